"""Incremental sync (the poll): records modified since the table's watermark, minus an overlap.

    filterByFormula = IS_AFTER(LAST_MODIFIED_TIME(), watermark − overlap)

The overlap (60 s by default) absorbs clock skew between Airtable's servers and the moment we took as the
watermark. The new watermark is the moment the poll started by *Airtable's* clock — the ``Date`` header of
its first response (else the local clock) — and it is written in the same transaction as the last page,
so a crash replays the poll instead of skipping records. To keep that promise with flat memory, one page
is held back until the next arrives.

What a poll cannot see: deletions (webhooks and full syncs tombstone them), and computed fields
(formula, rollup, lookup, count) whose inputs changed elsewhere — Airtable does not move
``LAST_MODIFIED_TIME()`` for them: the computed refresh (``sync.computed``) and full syncs do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyairtable.formulas import IS_AFTER, LAST_MODIFIED_TIME, to_formula_str

from airtable_pg.airtable.rate_limit import Cancelled
from airtable_pg.postgres.mirror_writer import ApplyCounts
from airtable_pg.rows import MirrorRow
from airtable_pg.sync.lease import LeaseKeeper
from airtable_pg.sync.table_sync import TableSync, record_failure

DEFAULT_OVERLAP = timedelta(seconds=60)
FULL_PAGE = 100  # Airtable's page size: a full first page may have more pages behind it


@dataclass(frozen=True)
class IncrementalOutcome:
    watermark: datetime
    since: datetime  # the lower bound actually queried (previous watermark − overlap)


@dataclass(frozen=True)
class PollProbe:
    """What the poll's first page says, without a run: is there anything to apply?"""

    changed: bool  # a record the mirror lacks or holds differently, or a full page (more may follow)
    rows_seen: int  # records modified within the queried window (the overlap brings back applied ones)
    since: datetime
    watermark: datetime | None  # where the watermark moved when nothing changed; None when a run is due
    requests: int = 1
    cell_errors: int = 0


def poll_formula(since: datetime) -> str:
    return to_formula_str(IS_AFTER(LAST_MODIFIED_TIME(), since.astimezone(UTC)))


def run_incremental(run: TableSync, *, overlap: timedelta = DEFAULT_OVERLAP) -> IncrementalOutcome | None:
    """Apply the records modified since the watermark; ``None`` when the table has no watermark yet."""
    previous = run.store.watermark()
    if previous is None:
        return None
    local_start = datetime.now(UTC)
    scan_id, _ = run.store.start_scan("incremental")
    since = previous - overlap
    with LeaseKeeper(run.store, scan_id, run.cancel) as lease:
        return _poll(run, scan_id, since, local_start, lease)


def probe_incremental(run: TableSync, *, overlap: timedelta = DEFAULT_OVERLAP) -> PollProbe | None:
    """The poll's first request alone: a run is due only if its page holds something to apply.

    One request, the same as a run's first page. Records the overlap brings back that the webhook already
    applied change nothing (the apply path decides, rolled back: ``TableStore.would_change``). When nothing
    changed, the poll is recorded as a run would record it: the watermark moves to Airtable's clock and the
    table's incremental sync time with it, so freshness holds without a run. ``None`` without a watermark.
    """
    previous = run.store.watermark()
    if previous is None:
        return None
    local_start = datetime.now(UTC)
    since = previous - overlap
    records = next(iter(run.pages(formula=poll_formula(since))), [])
    page = run.converter.page(records)
    run.store.record_probe(page.rows)  # what Airtable has and the mirror lacks: the stuck-lane metric
    if len(records) >= FULL_PAGE or run.store.would_change(page.rows):
        return PollProbe(
            changed=True, rows_seen=len(records), since=since, watermark=None, requests=run.apis.stats.requests
        )
    watermark = run.apis.stats.first_server_time or local_start
    scan_id, _ = run.store.start_scan("incremental")
    try:
        # The rows are the mirror's already: writing them again could only undo a newer webhook change.
        run.store.apply([], source="poll", watermark=watermark)
        run.tally.add_page(len(page.rows), ApplyCounts(), page.cell_errors)
        run.tally.range_done()
        run.store.finish_scan(scan_id, tombstone_before=None, stats=run.tally.as_dict())
    except BaseException as error:
        record_failure(run.store, scan_id, error)
        raise
    return PollProbe(
        changed=False,
        rows_seen=len(records),
        since=since,
        watermark=watermark,
        requests=run.apis.stats.requests,
        cell_errors=page.cell_errors,
    )


def _poll(
    run: TableSync, scan_id: uuid.UUID, since: datetime, local_start: datetime, lease: LeaseKeeper
) -> IncrementalOutcome:
    try:
        run.ranges_total = 1
        run.report("planned", f"modified after {since.isoformat()}")
        held: list[MirrorRow] = []
        held_errors = 0
        for records in run.pages(formula=poll_formula(since)):
            if run.cancel.is_set():
                lease.check()
                raise Cancelled("sync cancelled")
            page = run.converter.page(records)
            if held:
                _apply(run, held, held_errors)
            held, held_errors = page.rows, page.cell_errors
        watermark = run.apis.stats.first_server_time or local_start
        _apply(run, held, held_errors, watermark=watermark)  # an empty last page still moves the watermark
        run.tally.range_done()
        run.store.finish_scan(scan_id, tombstone_before=None, stats=run.tally.as_dict())
    except BaseException as error:
        record_failure(run.store, scan_id, error)
        raise
    return IncrementalOutcome(watermark=watermark, since=since)


def _apply(run: TableSync, rows: list[MirrorRow], cell_errors: int, *, watermark: datetime | None = None) -> None:
    counts = run.store.apply(rows, source="poll", watermark=watermark)
    run.tally.add_page(len(rows), counts, cell_errors)
    run.report("page")
