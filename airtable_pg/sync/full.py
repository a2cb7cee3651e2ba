"""Full sync of one table: every record, concurrently by record-id range, then tombstones for the rest.

Each range's scan streams its pages: convert → ``MirrorWriter.apply`` (upsert, and record the ids as *seen*
by this scan) → next page. At most one page per range is in memory, whatever the table's size. A mirror that
holds rows says how to split (``planner.plan_from_mirror``); an empty one is split once the table's own
thread has scanned the sample range (``planner.plan_after_sample``). Only when **every**
range has completed does ``finish_scan`` tombstone the live rows the scan did not see; an exception anywhere
cancels the other ranges, marks the run failed and tombstones nothing — a partial scan must never be
mistaken for deletions.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ALL_COMPLETED, FIRST_EXCEPTION, Executor, Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from airtable_pg.airtable.errors import ListIteratorExpired
from airtable_pg.airtable.rate_limit import Cancelled
from airtable_pg.sync.lease import LeaseKeeper
from airtable_pg.sync.planner import DEFAULT_RANGE_ROWS, SAMPLE, ScanRange, plan_after_sample, plan_from_mirror
from airtable_pg.sync.table_sync import TableSync, record_failure

log = logging.getLogger(__name__)

# Airtable drops a list iterator after some idle time or a server restart ("LIST_RECORDS_ITERATOR_NOT_AVAILABLE");
# the range then starts over, which is safe because upserts and the seen-set are idempotent.
ITERATOR_RESTARTS = 3


@dataclass(frozen=True)
class FullOutcome:
    tombstoned: int
    watermark: datetime
    scan_ranges: int


def run_full(run: TableSync, pool: Executor, *, workers: int, range_rows: int = DEFAULT_RANGE_ROWS) -> FullOutcome:
    local_start = datetime.now(UTC)  # the watermark if Airtable's responses carry no Date header
    scan_id, started_at = run.store.start_scan("full")
    with LeaseKeeper(run.store, scan_id, run.cancel) as lease:
        return _scan(run, pool, scan_id, started_at, local_start, lease, workers=workers, range_rows=range_rows)


def _scan(
    run: TableSync,
    pool: Executor,
    scan_id: uuid.UUID,
    started_at: datetime,
    local_start: datetime,
    lease: LeaseKeeper,
    *,
    workers: int,
    range_rows: int,
) -> FullOutcome:
    scans = RangeScans(run, pool, scan_id)
    try:
        by_char = run.store.live_rows_by_last_id_char()
        mirror_rows = sum(by_char.values())
        run.expected_rows = mirror_rows or None
        if mirror_rows:
            scans.submit(plan_from_mirror(by_char, workers=workers, range_rows=range_rows))
            run.report("planned", f"{run.ranges_total} range(s) from the mirror")
        else:
            sample_rows = scans.scan_here(SAMPLE)
            scans.submit(plan_after_sample(sample_rows, workers=workers, range_rows=range_rows))
            run.report("planned", f"{run.ranges_total} range(s) after a sample of the table")
        scans.join()
        run.confirm_spec()  # whatever the pages were (none written, say), a contradicted spec fails the run
        lease.check()
        # Every page may have landed just as the engine was closed (Ctrl-C, a run's termination): a closed
        # engine's sync still fails rather than tombstoning, whatever phase the close met.
        if run.cancel.is_set():
            raise Cancelled("sync cancelled")
        # Records changed after the scan's first response may have been read before the change: the next
        # poll starts there (minus its overlap), so nothing modified during the scan is skipped.
        watermark = run.apis.stats.first_server_time or local_start
        tombstoned = run.store.finish_scan(
            scan_id, tombstone_before=started_at, watermark=watermark, stats=run.tally.as_dict()
        )
    except BaseException as error:
        run.cancel.set()
        cause: BaseException = error
        if isinstance(error, Exception):  # not on Ctrl-C: that must return at once
            scans.stop()  # no worker may still write once the run is marked failed
            cause = lease.lost or run.spec_mismatch() or scans.first_real_error(default=error)
        record_failure(run.store, scan_id, cause)
        if cause is error:
            raise
        raise cause from error
    return FullOutcome(tombstoned, watermark, run.ranges_total)


class RangeScans:
    """The range scans of one full scan: most on the shared pool, the sample on the table's own thread."""

    def __init__(self, run: TableSync, pool: Executor, scan_id: uuid.UUID) -> None:
        self.run = run
        self.pool = pool
        self.scan_id = scan_id
        self.futures: list[Future[None]] = []

    def submit(self, ranges: list[ScanRange]) -> None:
        self.run.ranges_total += len(ranges)
        self.futures += [self.pool.submit(scan_range, self.run, r, self.scan_id) for r in ranges]

    def scan_here(self, scan_range_: ScanRange) -> int:
        """Scan ``scan_range_`` on this thread; returns its rows."""
        self.run.ranges_total += 1
        return scan_range(self.run, scan_range_, self.scan_id)

    def join(self) -> None:
        """Wait for every submitted range; the first failure is raised (``run_full`` then stops the rest)."""
        _settle(self.futures, until_error=True)
        if all(f.done() and not f.cancelled() and f.exception() is None for f in self.futures):
            return
        raise self.first_real_error(default=Cancelled("sync cancelled"))

    def stop(self) -> None:
        """Cancel the ranges not started, and wait until the running ones noticed the cancellation."""
        self.run.cancel.set()
        for future in self.futures:
            future.cancel()
        _settle(self.futures, until_error=False)

    def first_real_error(self, default: BaseException) -> BaseException:
        """The error that caused the cancellation, not the ``Cancelled`` it caused in the other ranges."""
        if not isinstance(default, Cancelled):
            return default
        failed = [f.exception() for f in self.futures if f.done() and not f.cancelled()]
        real = [e for e in failed if e is not None and not isinstance(e, Cancelled)]
        return real[0] if real else default


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


def scan_range(run: TableSync, scan_range_: ScanRange, scan_id: uuid.UUID) -> int:
    """Scan one range to its end and return its rows; a failure cancels the table's other ranges at their next page."""
    try:
        for attempt in range(ITERATOR_RESTARTS + 1):
            if run.cancel.is_set():
                raise Cancelled("another range of this scan failed")
            seen = [0, 0]  # rows, cell errors of this attempt
            try:
                _scan_range_once(run, scan_range_, scan_id, seen)
            except ListIteratorExpired:
                if attempt == ITERATOR_RESTARTS:
                    raise
                run.tally.forget_rows(*seen)
                log.warning("%s.%s: list iterator expired, restarting a range", run.base.key, run.table.key)
                continue
            run.tally.range_done()
            run.report("page")
            return seen[0]
    except Cancelled:
        raise
    except BaseException:
        run.cancel.set()
        raise


def _scan_range_once(run: TableSync, scan_range_: ScanRange, scan_id: uuid.UUID, seen: list[int]) -> None:
    formula = scan_range_.formula()
    options = {"formula": formula} if formula else {}
    for records in run.pages(**options):
        if run.cancel.is_set():
            raise Cancelled("another range of this scan failed")
        run.confirm_spec()
        page = run.converter.page(records)
        counts = run.store.apply(page.rows, scan_id=scan_id, source="full")
        run.tally.add_page(len(page.rows), counts, page.cell_errors)
        seen[0] += len(page.rows)
        seen[1] += page.cell_errors
        run.report("page")
