"""Refresh of computed cells: formula, rollup, lookup and count values that changed without their record changing.

Airtable does not move ``LAST_MODIFIED_TIME()`` when a computed value changes because *another* record changed
(a goal's lookup of its user's name, after the user is renamed), so neither a poll sees it nor, reliably, a
webhook. A refresh re-reads every record of the table with ``fields[]`` restricted to the spec's computed
fields (the record id and ``createdTime`` always come along), and merges those cells over the stored ``fields``
under the rows' locks: every other cell stays as stored, a computed cell Airtable now leaves out (empty) is
dropped. The merged rows go through the same converter and upsert as a full sync, which rewrites only the rows
whose cells changed, so a full sync afterwards finds nothing to write. Records the mirror has not seen are left
to the poll and the full sync (a refresh holds only part of their cells). No tombstones, no watermark.

Cost: one request per 100 records, as a full sync, but with a few cells per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airtable_pg.airtable.escaping import unescape_fields
from airtable_pg.airtable.rate_limit import Cancelled
from airtable_pg.postgres.transaction import transaction
from airtable_pg.sync.lease import LeaseKeeper
from airtable_pg.sync.table_sync import TableSync, record_failure

SOURCE = "computed"


def run_computed_refresh(run: TableSync) -> int:
    """Re-read the table's computed cells and write the rows whose cells changed; returns the pages read."""
    computed = run.table.computed_field_ids
    run.ranges_total = 1
    if not computed:
        run.report("planned", "no computed fields: nothing to refresh")
        return 0
    scan_id, _ = run.store.start_scan("computed")
    pages = 0
    with LeaseKeeper(run.store, scan_id, run.cancel) as lease:
        try:
            run.report("planned", f"{len(computed)} computed field(s)")
            for records in run.pages(fields=computed):
                if run.cancel.is_set():
                    lease.check()
                    raise Cancelled("refresh cancelled")
                _apply(run, records, computed)
                pages += 1
            run.tally.range_done()
            run.store.finish_scan(scan_id, tombstone_before=None, stats=run.tally.as_dict(), refresh_only=True)
        except BaseException as error:
            record_failure(run.store, scan_id, error)
            raise
    return pages


def merge_computed(stored: dict[str, Any], fresh: dict[str, Any], computed: Sequence[str]) -> dict[str, Any]:
    """The stored cells, with every computed field's cell replaced by Airtable's answer (absent: empty)."""
    merged = {field_id: cell for field_id, cell in stored.items() if field_id not in computed}
    merged.update({field_id: cell for field_id, cell in fresh.items() if field_id in computed})
    return merged


def _apply(run: TableSync, records: list[dict[str, Any]], computed: Sequence[str]) -> None:
    writer = run.store.writer
    with transaction(run.store.db) as cur:
        stored = writer.stored_records(cur, [record["id"] for record in records])
        merged = []
        for record in records:
            if record["id"] not in stored:
                continue
            cells = unescape_fields(stored[record["id"]][0])  # as Airtable sent them: the converter escapes again
            fields = merge_computed(cells, record.get("fields") or {}, computed)
            merged.append({"id": record["id"], "createdTime": record.get("createdTime"), "fields": fields})
        page = run.converter.page(merged)
        counts, _ = writer.upsert(cur, page.rows, SOURCE)
    run.tally.add_page(len(merged), counts, page.cell_errors)
    run.report("page")
