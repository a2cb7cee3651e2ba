"""`airtable-pg rollback`: Airtable holds every write of the app before the entity is served from it again."""

from __future__ import annotations

from airtable_pg import cli
from airtable_pg_tests.cli.test_outbound_cli import INSERT_BELIEF, env, run
from airtable_pg_tests.sync.outbound_helpers import BELIEFS, airtable_records_with_key, app_sql
from airtable_sandbox.demo import DEMO_BASE_ID as BELIEFS_BASE
from airtable_sandbox.pytest_plugin import airtable_api_for

__all__ = ["env"]  # the fixture, used by name


def test_rollback_pushes_every_write_first_and_refuses_while_one_is_a_dead_letter(env, database_url, capsys) -> None:
    run(capsys, "flags", "set", "persoonlijke_overtuigingen", "postgres_primary", "--reason", "cut", "--force")
    written = app_sql(database_url, INSERT_BELIEF, ("Ik mag fouten maken", "nieuw"))[0][0]
    code, out = run(capsys, "rollback", "persoonlijke_overtuigingen", "--reason", "drill")
    assert code == 0, out
    assert out.startswith("coaching.persoonlijke_overtuigingen: postgres_primary → airtable in ")
    assert "pushed 1 change(s) first" in out
    assert len(airtable_records_with_key(env, BELIEFS, written)) == 1  # in Airtable before the flip
    code, out = run(capsys, "flags", "history", "persoonlijke_overtuigingen")
    assert "postgres_primary → airtable  by " in out and "via rollback: rollback: drill" in out

    run(capsys, "flags", "set", "persoonlijke_overtuigingen", "postgres_primary", "--reason", "again", "--force")
    app_sql(database_url, INSERT_BELIEF, ("Ik moet perfect zijn", "verworpen"))  # Airtable refuses the option
    code = cli.main(["rollback", "persoonlijke_overtuigingen", "--reason", "drill"])
    refused = capsys.readouterr().err.splitlines()[-1]
    assert code == 1 and refused.startswith("airtable-pg rollback: coaching.persoonlijke_overtuigingen: 1 change(s) ")
    assert "dead letters, not in Airtable" in refused and refused.endswith("nothing flipped")
    code, out = run(capsys, "flags", "show", "--json")
    assert '"entity": "coaching.persoonlijke_overtuigingen", "mode": "postgres_primary"' in out  # nothing flipped

    code, out = run(capsys, "rollback", "persoonlijke_overtuigingen", "--reason", "drill", "--accept-dead-letters")
    assert code == 0
    code, out = run(capsys, "flags", "history", "persoonlijke_overtuigingen")
    assert "rollback: drill (accepted 1 dead)" in out.splitlines()[0]


def test_an_airtable_authoritative_entity_flips_at_once(env, capsys) -> None:
    run(capsys, "flags", "set", "users", "shadow", "--reason", "compare")
    code, out = run(capsys, "rollback", "users", "--reason", "mismatches")
    assert code == 0 and "coaching.users: shadow → airtable" in out and "pushed 0 change(s) first" in out


def test_the_drill_runs_the_rollback_end_to_end_and_leaves_no_trace(env, database_url, capsys) -> None:
    run(capsys, "flags", "set", "persoonlijke_overtuigingen", "shadow", "--reason", "before the drill")
    before = len(airtable_api_for(env).table(BELIEFS_BASE, BELIEFS.id).all())
    code, out = run(capsys, "cutover", "drill", "persoonlijke_overtuigingen")
    assert code == 0, out
    steps = out.splitlines()
    assert "probe found in Airtable (rec" in out and "probe deleted in Postgres and gone from Airtable" in out
    assert steps[-2].endswith("flag put back → shadow") and steps[-1].endswith("drill passed")
    assert len(airtable_api_for(env).table(BELIEFS_BASE, BELIEFS.id).all()) == before  # the probe is gone
    code, out = run(capsys, "flags", "show", "--json")
    assert '"entity": "coaching.persoonlijke_overtuigingen", "mode": "shadow"' in out
    code = cli.main(["cutover", "drill", "users"])
    assert code == 1 and "Airtable-authoritative" in capsys.readouterr().err
