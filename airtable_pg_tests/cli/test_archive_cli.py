"""`airtable-pg archive run | status | purge` end to end: the sandbox, the session's Postgres, a local archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from airtable_pg import cli
from airtable_pg_tests.cli.test_sync import environment
from airtable_sandbox.server import Sandbox


def test_archive_run_status_and_purge(
    sandbox: Sandbox, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    archive = tmp_path / "copies"
    for name, value in environment(sandbox, database_url, AIRTABLE_PG_ARCHIVE_URL=str(archive)).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["sync", "--full", "--table", "users", "--workers", "2"]) == 0
    capsys.readouterr()

    assert cli.main(["archive", "status"]) == 1  # live attachments without a verified copy yet
    assert cli.main(["archive", "run"]) == 0
    out = capsys.readouterr().out
    copies = [path for path in archive.rglob("*") if path.is_file() and path.parent.name != "thumbnails"]
    assert f"archived {len(copies)} attachments" in out and len(copies) > 10
    assert cli.main(["archive", "status"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("coaching"))
    live, archived, waiting, failed = (int(value) for value in line.split()[1:5])
    assert live == archived == len(copies) and waiting == failed == 0

    assert cli.main(["archive", "purge"]) == 0
    assert "purged 0 copies" in capsys.readouterr().out  # nothing deleted in Airtable: nothing to purge
