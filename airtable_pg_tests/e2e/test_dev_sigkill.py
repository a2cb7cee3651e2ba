"""``airtable-pg dev`` killed with SIGKILL: its sandbox, receiver, applier, pusher and Dagster's processes go too."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, upgrade
from airtable_pg_tests.cli.test_dev_lifeline import wait_until_gone
from airtable_pg_tests.e2e.test_ui import REPO, DevServer, descendants, free_port, wait_for_asset_nodes


def test_every_child_dies_with_a_dev_command_killed_with_sigkill(
    new_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Databases of its own (the mirror's and Dagster's): a stack killed mid-work leaves its hook, leases and
    # started runs behind, which must not reach the UI test's stack on the same server.
    database = new_database("dev_sigkill")
    upgrade(alembic_config(database, versions=DEMO_VERSIONS))
    home = tmp_path_factory.mktemp("dev_sigkill")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE", "DATABASE", "DAGSTER"))}
    env |= {"DATABASE_URL": database, "DAGSTER_HOME": str(home / "dagster_home"), "PYTHONUNBUFFERED": "1",
            "AIRTABLE_PG_HOME": str(home / "state"), "AIRTABLE_PG_DAGSTER_DATABASE": "dagster_sigkill"}  # fmt: skip
    with (home / "dev.log").open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "airtable_pg", "dev", "--port", str(port), "--records", "40"],
                                   cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    server = DevServer(process=process, url=f"http://127.0.0.1:{port}", log=home / "dev.log")
    tree: set[int] = set()
    try:
        wait_for_asset_nodes(server)
        tree = descendants(process.pid)
        assert len(tree) >= 6  # the lifeline, sandbox, receiver, applier, pusher, dagster dev and its processes
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        left = wait_until_gone(sorted(tree), 30)
        assert not left, f"still running after `airtable-pg dev` was killed: {left}"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in tree:  # a failed run must not leave a stack behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
