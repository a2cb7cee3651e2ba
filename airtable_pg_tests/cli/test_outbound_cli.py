"""`airtable-pg authority show`, `outbound run`, `dlq list | show | replay | discard` end to end over the sandbox.

Run with ``-s`` to see the commands' output (docs/runbook.md quotes it).
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from airtable_pg import cli
from airtable_pg_tests.cli.test_sync import environment
from airtable_pg_tests.sync.outbound_helpers import BELIEFS, airtable_records_with_key, app_sql, insert_goal
from airtable_sandbox.server import Sandbox

INSERT_BELIEF = (
    "insert into airtable.persoonlijke_overtuigingen (omschrijving, status) values (%s, %s) returning id::text"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    sys.__stdout__.write(f"$ airtable-pg {shlex.join(argv)}\n{out}\n")  # with -s: the runbook's examples
    return code, out


@pytest.fixture
def env(sandbox: Sandbox, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    for name, value in environment(sandbox, database_url).items():
        monkeypatch.setenv(name, value)
    return sandbox


def test_the_authority_matrix_shows_each_tables_owner_and_outbox(env, database_url, capsys) -> None:
    insert_goal(database_url, title="Waiting to be pushed")
    code, out = run(capsys, "authority", "show")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "postgres" in lines["coaching.personal_goals"] and "1 pending, 0 dead" in lines["coaching.personal_goals"]
    assert "postgres" in lines["coaching.persoonlijke_overtuigingen"]
    assert "Airtable → Postgres" in lines["coaching.users"]


def test_outbound_run_and_dead_letter_triage(env, database_url, capsys) -> None:
    good = app_sql(database_url, INSERT_BELIEF, ("Ik mag fouten maken", "nieuw"))[0][0]
    bad = app_sql(database_url, INSERT_BELIEF, ("Ik moet perfect zijn", "verworpen"))[0][0]
    worse = app_sql(database_url, INSERT_BELIEF, ("Niemand luistert", "genegeerd"))[0][0]
    code, out = run(capsys, "outbound", "run")
    assert code == 1 and "pushed 1 (1 created" in out and "2 dead-lettered" in out
    assert len(airtable_records_with_key(env, BELIEFS, good)) == 1

    code, out = run(capsys, "dlq", "list")
    assert code == 0 and out.count(" outbound ") == 2 and "INVALID_MULTIPLE_CHOICE_OPTIONS" in out
    rows = out.splitlines()[1:]
    first, second = (int(line.split()[0]) for line in rows)
    # The table by name, and the Postgres row of an insert Airtable has no record of.
    assert all("coaching.persoonlijke_overtuigingen" in line for line in rows)
    assert f"row {bad} (insert)" in rows[0] and f"row {worse} (insert)" in rows[1]
    code, out = run(capsys, "dlq", "show", str(first))
    shown = json.loads(out)
    assert shown["payload"]["row_id"] == bad and shown["history"] and shown["status"] == "open"

    # Replayed unfixed, the change fails again: the same letter stays open with one more attempt and the error.
    code, out = run(capsys, "dlq", "replay", str(first))
    assert code == 1 and f"dead letter {first}: not delivered, stays open (2 attempt(s))" in out
    code, out = run(capsys, "dlq", "list")
    assert [int(line.split()[0]) for line in out.splitlines()[1:]] == [first, second]  # no new letter
    code, out = run(capsys, "dlq", "replay", str(first))
    assert code == 1 and "stays open (3 attempt(s))" in out and "INVALID_MULTIPLE_CHOICE_OPTIONS" in out

    # The app fixes the value; replaying pushes the row's current state and closes the letter once delivered.
    app_sql(database_url, "update airtable.persoonlijke_overtuigingen set status = 'uitgedaagd' where id = %s", (bad,))
    code, out = run(capsys, "dlq", "replay", str(first))
    assert code == 0 and f"dead letter {first}: delivered to Airtable; closed as replayed" in out
    assert "outbox pushed: 1" in out
    assert len(airtable_records_with_key(env, BELIEFS, bad)) == 1
    code, out = run(capsys, "dlq", "replay", str(first))
    assert code == 0 and "closed already" in out

    code, out = run(capsys, "dlq", "discard", str(second), "--reason", "test row, not needed in Airtable")
    assert code == 0 and "discarded" in out
    code, out = run(capsys, "dlq", "list", "--status", "all")
    assert "replayed" in out and "discarded" in out
    assert app_sql(
        database_url, "select resolution_reason from airtable_sync.dead_letter where id = %s", (second,)
    ) == [("test row, not needed in Airtable",)]
    assert airtable_records_with_key(env, BELIEFS, worse) == []
    code, out = run(capsys, "outbound", "status")
    assert code == 0
