"""`airtable-pg cutover ENTITY`: refused in one line naming the gate until every gate and the shadow reads pass."""

from __future__ import annotations

from airtable_pg import cli
from airtable_pg.postgres.database import connection_pool
from airtable_pg.routing.shadow import ShadowReads
from airtable_pg.spec import load_spec
from airtable_pg_tests.checks.helpers import synced
from airtable_pg_tests.cli.test_checks import env

__all__ = ["env"]  # the fixture, used by name
SPEC = load_spec()
BASE = SPEC.bases["coaching"]
USERS = BASE.tables["users"]


def refusal(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_cutover_waits_for_every_gate_then_for_the_shadow_reads(env, database_url, capsys) -> None:
    assert cli.main(["cutover", "users", "--reason", "go"]) == 1
    line = refusal(capsys)
    assert line.startswith("airtable-pg cutover: coaching.users: gate ") and "never run" in line
    assert line.endswith("nothing flipped")

    synced(env, database_url)
    assert cli.main(["checks", "run", "--table", "users"]) == 0
    capsys.readouterr()
    assert cli.main(["cutover", "users", "--reason", "go"]) == 1
    assert "gate shadow_reads failed: 0 read(s) compared in the last 24 h, fewer than 100" in refusal(capsys)

    shadow = ShadowReads(connection_pool(database_url), SPEC)
    same = [{"id": "rec1", "createdTime": "2026-11-01T10:00:00.000Z", "fields": {"name": "Anna"}}]
    for _ in range(100):
        shadow.compare(BASE, USERS, "GET users", same, same, ordered=False)
    assert cli.main(["shadow", "report", "users"]) == 0
    assert "coaching.users: 100 read(s) compared, 0 with a mismatch (0.00%)" in capsys.readouterr().out

    assert cli.main(["cutover", "users", "--reason", "shadow clean for a week"]) == 0
    assert capsys.readouterr().out.startswith("coaching.users: airtable → postgres_primary, by ")
    assert cli.main(["flags", "history", "users"]) == 0
    assert "via cutover: shadow clean for a week" in capsys.readouterr().out
