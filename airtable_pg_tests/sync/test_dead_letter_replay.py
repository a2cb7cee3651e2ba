"""An inbound dead letter whose payload still fails stays open, with one more attempt and the new error."""

from __future__ import annotations

from airtable_pg.postgres import dead_letters as letters
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import add_dead_letter
from airtable_pg.sync import dead_letters
from airtable_pg_tests.sync.outbound_helpers import SPEC
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.pytest_plugin import airtable_api_for

MALFORMED = {"timestamp": "2026-12-07T10:00:00.000Z", "changedTablesById": {"tblUsers000000001": "not an object"}}


def test_a_failing_inbound_replay_keeps_the_letter_open_with_its_attempts(sandbox, database_url: str) -> None:
    db = connection_pool(database_url)
    with transaction(db) as cur:
        letter_id = add_dead_letter(
            cur, direction="inbound", base_id=DEMO_BASE_ID, payload=MALFORMED, error="first failure"
        )
    for attempt in (2, 3):
        outcome = dead_letters.replay(SPEC, db, airtable_api_for(sandbox), [letter_id])
        assert list(outcome.failed) == [letter_id] and outcome.replayed == []
        with transaction(db) as cur:
            letter = letters.get(cur, letter_id)
            assert (letter.status, letter.attempts) == ("open", attempt)
            assert letter.error == outcome.failed[letter_id] != "first failure"
            assert letter.history[-1]["error"] == letter.error
            assert len(letters.list_letters(cur, status=None)) == 1  # the same letter, never a second one
