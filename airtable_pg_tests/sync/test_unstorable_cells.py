"""A cell Postgres cannot hold (NUL) is a counted cell error, stored escaped, and never stops the table's sync."""

from __future__ import annotations

from pyairtable import Api

from airtable_pg.airtable.escaping import ESCAPED_KEY, unescape_fields
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import assert_mirror_matches, make_sync_engine, mirror_rows
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
USERS = COACHING.tables["users"]
NAME, NOTES = "fldUsrName0000000", "fldUsrNotes000000"


def test_a_nul_in_a_cell_is_stored_escaped_and_the_table_syncs(
    sandbox: Sandbox, database_url: str, airtable_api: Api
) -> None:
    users = airtable_api.table(COACHING.id, USERS.id)
    created = users.create({NAME: "nul\x00byte", NOTES: "fine"}, use_field_ids=True)
    with make_sync_engine(sandbox, database_url) as sync:
        full = sync.sync_table("coaching", "users", "full")
        users.update(created["id"], {NOTES: "nul\x00 again"}, use_field_ids=True)
        poll = sync.sync_table("coaching", "users", "incremental")
    assert full.cell_errors == 1 and full.row_count == full.rows_seen
    assert poll.mode == "incremental" and poll.cell_errors == 2 and poll.updated == 1
    row = mirror_rows(database_url, COACHING, USERS)[created["id"]]
    assert row["name"] is None and row["notes"] is None  # text columns cannot hold NUL
    assert set(row["fields"][NAME]) == {ESCAPED_KEY}
    assert unescape_fields(row["fields"]) == users.get(created["id"], use_field_ids=True)["fields"]
    assert_mirror_matches(database_url, airtable_api, COACHING, USERS)  # every other row as it always was
