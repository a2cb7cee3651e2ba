"""Airtable hands out new attachment URLs over time: a sync that reads only new URLs changes nothing in the mirror."""

from __future__ import annotations

from airtable_pg.airtable.types import ATTACHMENT_TYPE
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import make_sync_engine, mirror_rows
from airtable_sandbox.pytest_plugin import airtable_api_for

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]


def stored_urls(database_url: str) -> dict[str, str]:
    """Attachment id → the URL the mirror holds for it, over every attachment field of the demo base."""
    found = {}
    for table in COACHING.tables.values():
        fields = [f.id for f in table.fields.values() if f.type == ATTACHMENT_TYPE]
        for row in mirror_rows(database_url, COACHING, table).values():
            for field_id in fields:
                for attachment in row["fields"].get(field_id) or []:
                    found[attachment["id"]] = attachment["url"]
    return found


def test_a_full_sync_that_reads_only_rotated_attachment_urls_writes_nothing(sandbox_factory, database_url) -> None:
    sandbox = sandbox_factory(demo_records=40, attachment_url_ttl_seconds=60)
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        engine.sync_tables("full")
    first = stored_urls(database_url)
    assert len(first) > 5
    sandbox.clock.advance(120)  # every URL handed out so far has expired: Airtable gives new ones

    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        results = engine.sync_tables("full")
    assert all((r.inserted, r.updated, r.restored) == (0, 0, 0) for r in results), results
    assert sum(r.unchanged for r in results) == sum(r.rows_seen for r in results) > 0
    # The sandbox did hand out other URLs (so the comparison above had something to ignore); the mirror kept its own.
    users = COACHING.tables["users"]
    avatar = next(f.id for f in users.fields.values() if f.type == ATTACHMENT_TYPE)
    fresh = {
        attachment["id"]: attachment["url"]
        for record in airtable_api_for(sandbox).table(COACHING.id, users.id).all(use_field_ids=True)
        for attachment in record["fields"].get(avatar) or []
    }
    assert fresh and all(first[attachment_id] != url for attachment_id, url in fresh.items())
    assert stored_urls(database_url) == first
