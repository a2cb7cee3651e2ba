"""``scripts/ensure-postgres-tls.sh`` (run by ``make test``): quiet when an OpenSSL-built PostgreSQL is there, one
line when it cannot install one, and an install through apt-get that creates no cluster of its own on port 5432.

apt-get itself is replaced by a recorder here: the tests check what the script asks of it, never touch the system.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airtable_pg_tests.postgres.tls_server import tls_capable_bin

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "ensure-postgres-tls.sh"
# postgresql-common's createcluster.conf as Debian ships it (the line that matters, commented out)
DEBIAN_DEFAULT = "# Create a main cluster when a new server package is installed\n#create_main_cluster = true\n"


def executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


def tools(folder: Path, *names: str) -> Path:
    """A PATH folder holding only ``names`` (from this machine) and whatever fakes the test adds."""
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).symlink_to(shutil.which(name))
    return folder


def fake_apt_get(folder: Path, log: Path) -> None:
    """Records each call; when the server package is installed, also what createcluster.conf says at that moment."""
    executable(folder / "apt-get", f"""echo "apt-get $*" >> {log}
if [ "${{@: -1}}" = postgresql ]; then grep create_main_cluster "$CREATECLUSTER_CONF" | sed 's/^/conf: /' >> {log}; fi
""")  # fmt: skip


def run(python: str | Path, path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(path), "CREATECLUSTER_CONF": str(tmp_path / "createcluster.conf"), "HOME": str(tmp_path)}
    return subprocess.run([str(SCRIPT), str(python)], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(tls_capable_bin() is None, reason="no OpenSSL-built PostgreSQL on this machine")
def test_already_installed_it_is_quiet_quick_and_calls_no_apt(tmp_path: Path):
    log = tmp_path / "apt.log"
    path = tools(tmp_path / "bin", "bash", "id", "dirname")
    fake_apt_get(path, log)
    started = time.monotonic()
    done = run(sys.executable, path, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert time.monotonic() - started < 10
    assert not log.exists()


def test_without_apt_get_it_says_in_one_line_that_the_tls_tests_will_skip(tmp_path: Path):
    nothing_found = executable(tmp_path / "python", "exit 1\n")  # as on a machine with pgserver's binaries only
    done = run(nothing_found, tools(tmp_path / "bin", "bash", "id", "dirname"), tmp_path)
    assert done.returncode == 0 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "the TLS tests will skip" in line and "root and apt-get" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs only as root")
def test_as_root_it_installs_postgresql_without_a_cluster_of_its_own(tmp_path: Path):
    log = tmp_path / "apt.log"
    path = tools(tmp_path / "bin", "bash", "id", "dirname", "sed", "grep")
    fake_apt_get(path, log)
    (tmp_path / "createcluster.conf").write_text(DEBIAN_DEFAULT)
    nothing_found = executable(tmp_path / "python", "exit 1\n")
    for _ in range(2):  # a second run (the install did not help) edits the file the same way
        done = run(nothing_found, path, tmp_path)
        assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[:4] == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends postgresql-common",
        # the server package comes after the setting that stops it creating and starting a cluster on 5432
        "apt-get install -y -qq --no-install-recommends postgresql",
        "conf: create_main_cluster = false",
    ]
    assert (tmp_path / "createcluster.conf").read_text().count("create_main_cluster = false") == 1
    assert "the TLS tests will skip" in done.stderr
