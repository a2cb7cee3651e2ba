"""`airtable-pg checks run` and `airtable-pg cutover status`: readable tables, JSON, exit codes, stored results."""

from __future__ import annotations

import json

import pytest

from airtable_pg import cli
from airtable_pg.checks.runner import CHECKS
from airtable_pg.spec import load_spec
from airtable_pg_tests.checks.helpers import any_live_id, execute, synced
from airtable_pg_tests.cli.test_sync import environment
from airtable_sandbox.server import Sandbox

TABLES = load_spec().bases["coaching"].tables


@pytest.fixture
def env(sandbox_factory, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox = sandbox_factory(demo_records=60)
    for name, value in environment(sandbox, database_url).items():
        monkeypatch.setenv(name, value)
    return sandbox


def test_a_clean_sync_passes_every_gate_and_is_ready(env: Sandbox, database_url: str, capsys):
    assert cli.main(["cutover", "status"]) == 1  # nothing has run yet: no gate passes by default
    assert "never run" in capsys.readouterr().out
    synced(env, database_url)
    assert cli.main(["checks", "run", "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(results) == len(TABLES) * len(CHECKS)
    assert all({"table", "check", "severity", "passed", "reason", "failing_ids"} <= set(r) for r in results)
    assert all(r["passed"] for r in results)
    assert cli.main(["cutover", "status", "--json"]) == 0
    statuses = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["table"] for s in statuses] == [f"coaching.{key}" for key in TABLES]
    assert all(s["ready"] and {g["state"] for g in s["gates"]} == {"passed"} for s in statuses)


def test_a_failed_gate_exits_1_names_the_record_and_holds_cutover(env: Sandbox, database_url: str, capsys):
    synced(env, database_url)
    assert cli.main(["checks", "run"]) == 0
    capsys.readouterr()
    gone = any_live_id(database_url, "users")
    execute(database_url, "delete from airtable.users where airtable_id = %s", gone)
    assert (
        cli.main(["checks", "run", "--table", "users", "--table", "coaching.users", "--check", "reconcile_counts"]) == 1
    )
    out = capsys.readouterr().out
    assert "coaching.users" in out and "reconcile_counts" in out and "FAILED" in out and gone in out
    assert "coaching.programs" not in out
    assert cli.main(["cutover", "status"]) == 1
    out = capsys.readouterr().out
    assert "not ready" in out and "failed" in out
    assert cli.main(["cutover", "status", "--json"]) == 1
    statuses = {s["table"]: s for s in map(json.loads, capsys.readouterr().out.splitlines())}
    assert not statuses["coaching.users"]["ready"] and statuses["coaching.programs"]["ready"]


def test_an_unknown_check_or_table_is_a_usage_error(env: Sandbox, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["checks", "run", "--check", "vibes"])
    assert exit_info.value.code == 2
    assert cli.main(["checks", "run", "--table", "nope"]) == 2
    assert "matches no table" in capsys.readouterr().err
