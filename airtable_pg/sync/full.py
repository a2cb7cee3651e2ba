"""Full sync of one table: every record, concurrently by creation-time range, then tombstones for the rest.

Each worker takes a range and streams its pages: convert → ``MirrorWriter.apply`` (upsert, and record the
ids as *seen* by this scan) → next page. At most one page per worker is in memory, whatever the table's
size. Only when **every** range has completed does ``finish_scan`` tombstone the live rows the scan did
not see; an exception anywhere cancels the other ranges, marks the run failed and tombstones nothing —
a partial scan must never be mistaken for deletions.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ALL_COMPLETED, FIRST_EXCEPTION, Executor, Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from airtable_pg.airtable.rate_limit import Cancelled
from airtable_pg.sync.planner import DEFAULT_MIN_RANGE_ROWS, PAGE_SIZE, ScanRange, plan_scan
from airtable_pg.sync.run import TableRun, record_failure

log = logging.getLogger(__name__)

# Airtable drops a list iterator after some idle time or a server restart ("LIST_RECORDS_ITERATOR_NOT_AVAILABLE");
# the range then starts over, which is safe because upserts and the seen-set are idempotent.
ITERATOR_RESTARTS = 3


@dataclass(frozen=True)
class FullOutcome:
    tombstoned: int
    watermark: datetime
    scan_ranges: int
    strategy: str


def run_full(
    run: TableRun, pool: Executor, *, workers: int, min_range_rows: int = DEFAULT_MIN_RANGE_ROWS
) -> FullOutcome:
    local_start = datetime.now(UTC)  # the watermark if Airtable's responses carry no Date header
    scan_id, started_at = run.writer.start_scan("full")
    try:
        mirror_rows = run.writer.live_count()
        run.expected_rows = mirror_rows or None
        plan = plan_scan(
            run.table,
            workers=workers,
            mirror_rows=mirror_rows,
            mirror_quantiles=run.writer.created_time_quantiles,
            airtable_table=run.airtable_table,
            min_range_rows=min_range_rows,
        )
        run.ranges_total = len(plan.ranges)
        run.report("planned", f"{len(plan.ranges)} range(s) by {plan.strategy}")
        scan_all(run, pool, plan.ranges, scan_id)
        # Records changed after the scan's first response may have been read before the change: the next
        # poll starts there (minus its overlap), so nothing modified during the scan is skipped.
        watermark = run.apis.stats.first_server_time or local_start
        tombstoned = run.writer.finish_scan(
            scan_id, tombstone_before=started_at, watermark=watermark, stats=run.tally.as_dict()
        )
    except BaseException as error:
        run.cancel.set()
        record_failure(run.writer, scan_id, error)
        raise
    return FullOutcome(tombstoned, watermark, len(plan.ranges), plan.strategy)


def scan_all(run: TableRun, pool: Executor, ranges: list[ScanRange], scan_id: uuid.UUID) -> None:
    """Scan every range on ``pool``; the first failure cancels the others and is raised once they stopped."""
    futures: list[Future[None]] = [pool.submit(scan_range, run, scan_range_, scan_id) for scan_range_ in ranges]
    try:
        _settle(futures, until_error=True)
        if all(f.done() and not f.cancelled() and f.exception() is None for f in futures):
            return
        run.cancel.set()
        for future in futures:
            future.cancel()
        _settle(futures, until_error=False)
        raise _first_real_error(futures)
    except BaseException:
        run.cancel.set()  # e.g. KeyboardInterrupt while waiting: stop the workers too
        raise


def _settle(futures: list[Future[None]], *, until_error: bool) -> None:
    """Wait until every future finished (or, with ``until_error``, one failed).

    A future cancelled by an executor's ``shutdown(cancel_futures=True)`` never notifies waiters, so
    cancelled futures are left out and the wait wakes up regularly to notice new cancellations.
    """
    while True:
        live = [f for f in futures if not f.cancelled()]
        done, pending = wait(live, timeout=0.25, return_when=FIRST_EXCEPTION if until_error else ALL_COMPLETED)
        if not pending:
            return
        if until_error and any(f.exception() is not None for f in done):
            return


def _first_real_error(futures: list[Future[None]]) -> BaseException:
    """The error that caused the cancellation, not the ``Cancelled`` it caused in the other workers."""
    errors = [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
    real = [e for e in errors if not isinstance(e, Cancelled)]
    return (real or errors or [Cancelled("sync cancelled")])[0]


def scan_range(run: TableRun, scan_range_: ScanRange, scan_id: uuid.UUID) -> None:
    for attempt in range(ITERATOR_RESTARTS + 1):
        if run.cancel.is_set():
            raise Cancelled("another range of this scan failed")
        seen = [0, 0]  # rows, cell errors of this attempt
        try:
            _scan_range_once(run, scan_range_, scan_id, seen)
        except requests.HTTPError as error:
            if attempt == ITERATOR_RESTARTS or not _iterator_expired(error):
                raise
            run.tally.forget_rows(*seen)
            log.warning("%s.%s: list iterator expired, restarting a range", run.base.key, run.table.key)
            continue
        run.tally.range_done()
        run.report("page")
        return


def _scan_range_once(run: TableRun, scan_range_: ScanRange, scan_id: uuid.UUID, seen: list[int]) -> None:
    table = run.airtable_table()
    formula = scan_range_.formula()
    options = {"formula": formula} if formula else {}
    for records in table.iterate(page_size=PAGE_SIZE, use_field_ids=True, **options):
        if run.cancel.is_set():
            raise Cancelled("another range of this scan failed")
        page = run.converter.page(records)
        counts = run.writer.apply(page.rows, scan_id=scan_id, source="full")
        run.tally.add_page(len(page.rows), counts, page.cell_errors)
        seen[0] += len(page.rows)
        seen[1] += page.cell_errors
        run.report("page")


def _iterator_expired(error: requests.HTTPError) -> bool:
    response = error.response
    return (
        response is not None
        and response.status_code == 422
        and "LIST_RECORDS_ITERATOR_NOT_AVAILABLE" in (response.text or "")
    )
