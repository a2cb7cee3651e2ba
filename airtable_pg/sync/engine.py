"""The inbound sync engine's public API: sync one table, or many concurrently, full or incremental.

Plain Python (no Dagster): the Dagster assets, the CLI and the benchmarks all call :class:`SyncEngine`.
One apply path: whatever the mode, records become rows through ``airtable.cells`` and reach Postgres
through ``postgres.table_store``.

Concurrency: one pool of ``workers`` threads per engine fetches pages (each with its own pyairtable
``Api``); tables synced together share that pool, and each table's own thread scans one range too (the
sample of a first import). Every request of every table, thread and process takes its slot from the
per-base bucket in Postgres (``airtable.rate_limit``), so more threads never mean more than 5 requests/s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from airtable_pg.airtable.api_pool import ApiPool
from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.airtable.client import AirtableConfig, RequestStats
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.table_store import TableStore
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec
from airtable_pg.sync.computed import run_computed_refresh
from airtable_pg.sync.full import run_full
from airtable_pg.sync.incremental import DEFAULT_OVERLAP, PollProbe, probe_incremental, run_incremental
from airtable_pg.sync.planner import DEFAULT_RANGE_ROWS
from airtable_pg.sync.spec_check import AirtableSpecCheck
from airtable_pg.sync.table_sync import ProgressEvent, TableSync, describe_error

log = logging.getLogger(__name__)

MODES = ("full", "incremental", "computed")
NO_WATERMARK = "no watermark yet (the table was never fully synced): ran a full sync instead"

__all__ = ["ProgressEvent", "SyncEngine", "SyncFailed", "SyncResult"]


@dataclass
class SyncResult:
    """Everything the CLI summary and the Dagster materialization metadata show about one table's sync."""

    base: str
    table: str
    mode: str  # "full" | "incremental" ("full" also when an incremental sync fell back)
    rows_seen: int
    inserted: int
    updated: int
    unchanged: int
    tombstoned: int
    restored: int
    cell_errors: int
    requests: int
    throttled_429: int
    retried_5xx: int
    duration_s: float
    row_count: int  # live rows in the mirror after the run
    watermark: datetime | None
    scan_ranges: int
    fallback_reason: str | None = None  # why the mode differs from the one asked for


class SyncFailed(RuntimeError):
    """Some tables of a ``sync_tables`` call failed; the others completed (their results are kept)."""

    def __init__(self, results: list[SyncResult], failures: dict[str, BaseException]):
        self.results = results
        self.failures = failures  # "base.table" -> error
        first = next(iter(failures.items()))
        super().__init__(
            f"{len(failures)} of {len(results) + len(failures)} table(s) failed; "
            f"first: {first[0]}: {describe_error(first[1])}"
        )


class SyncEngine:
    def __init__(
        self,
        spec: SyncSpec,
        database_url: str,
        airtable: AirtableConfig,
        *,
        workers: int,
        progress: Callable[[ProgressEvent], None] | None = None,
        range_rows: int = DEFAULT_RANGE_ROWS,
        poll_overlap: timedelta = DEFAULT_OVERLAP,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.spec = spec
        self.airtable = airtable.for_spec(spec)  # the spec may leave room on a base for other clients
        self.workers = workers
        self.progress = progress
        self.range_rows = range_rows
        self.poll_overlap = poll_overlap
        # Each worker holds at most one connection at a time; table coordinators need a few more.
        self.db = connection_pool(database_url, pool_size=max(10, workers + 4))
        self.limiter = self.airtable.rate_limiter(self.db)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="airtable-sync")
        self._stores: dict[tuple[str, str], TableStore] = {}
        self._spec_check = AirtableSpecCheck()  # one metadata request per base for this engine's life
        self._spec_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spec-check")
        self._lock = threading.Lock()
        self._running: set[threading.Event] = set()
        self._closed = False
        self._closing = threading.Event()  # the one cancellation the spec checks obey: the engine's own close

    # -- public ------------------------------------------------------------------------------------

    def sync_table(self, base_key: str, table_key: str, mode: str = "full") -> SyncResult:
        base, table = self.spec.table(base_key, table_key)
        return self._sync(base, table, mode)

    def sync_tables(self, mode: str = "full", tables: list[tuple[str, str]] | None = None) -> list[SyncResult]:
        """Sync all (or the given ``(base_key, table_key)``) tables concurrently; results in spec order.

        A failing table does not stop the others; if any failed, :class:`SyncFailed` is raised after
        all finished, carrying the results of those that succeeded.
        """
        targets = [self.spec.table(b, t) for b, t in tables] if tables else list(self.spec.tables())
        if not targets:
            return []
        results: list[SyncResult] = []
        failures: dict[str, BaseException] = {}
        coordinators = ThreadPoolExecutor(max_workers=min(len(targets), self.workers), thread_name_prefix="sync-table")
        try:
            futures = [(base, table, coordinators.submit(self._sync, base, table, mode)) for base, table in targets]
            for base, table, future in futures:
                try:
                    results.append(future.result())
                except Exception as error:  # noqa: BLE001 - one table's failure must not hide the others'
                    failures[f"{base.key}.{table.key}"] = error
        except BaseException:
            self._cancel_running()  # Ctrl-C while waiting: stop every table now, not after it finished
            raise
        finally:
            coordinators.shutdown(wait=True, cancel_futures=True)
        if failures:
            raise SyncFailed(results, failures)
        return results

    def probe_poll(self, base_key: str, table_key: str) -> PollProbe | None:
        """One request: whether a poll of the table has anything to apply (``incremental.probe_incremental``).

        No spec check: when nothing changed only the watermark is written, and a run's own check guards the rest.
        """
        base, table = self.spec.table(base_key, table_key)
        cancel = self._register()
        apis = ApiPool(self.airtable, self.limiter, RequestStats(), cancel, lane=table.lane)
        try:
            run = TableSync(
                base, table, "incremental", self._store(base, table), RecordConverter(table), apis, cancel, None
            )
            return probe_incremental(run, overlap=self.poll_overlap)
        finally:
            apis.close()
            with self._lock:
                self._running.discard(cancel)

    def close(self) -> None:
        """Cancel syncs still running (they fail and tombstone nothing) and stop the worker threads."""
        self._closing.set()
        with self._lock:
            self._closed = True  # in the same critical section as the cancels: ``closed`` implies every sync told
            for cancel in self._running:
                cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._spec_checks.shutdown(wait=True, cancel_futures=True)

    @property
    def closed(self) -> bool:
        """True once ``close`` has begun: every sync running then has been told to stop."""
        with self._lock:
            return self._closed

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one table ---------------------------------------------------------------------------------

    def _sync(self, base: BaseSpec, table: TableSpec, mode: str) -> SyncResult:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        started = time.perf_counter()
        cancel = self._register()
        apis = ApiPool(self.airtable, self.limiter, RequestStats(), cancel, lane=table.lane)
        run = TableSync(
            base, table, mode, self._store(base, table), RecordConverter(table), apis, cancel, self.progress
        )
        run.report("started")
        try:
            result = self._run(run, started)
        except BaseException as error:
            cancel.set()  # work still queued or running for this table (e.g. after Ctrl-C) stops
            run.report("failed", describe_error(error))
            log.warning("%s sync of %s.%s failed: %s", mode, base.key, table.key, describe_error(error))
            raise
        finally:
            apis.close()
            with self._lock:
                self._running.discard(cancel)
        run.report("finished")
        log.info(
            "%s sync of %s.%s: %d seen, %d inserted, %d updated, %d tombstoned, %d requests, %.1f s",
            result.mode, base.key, table.key, result.rows_seen, result.inserted, result.updated,
            result.tombstoned, result.requests, result.duration_s,
        )  # fmt: skip
        return result

    def _run(self, run: TableSync, started: float) -> SyncResult:
        # A full scan reads its first page while the schema request is in flight (a first import starts one
        # round trip sooner) and writes nothing until the check passed; the other modes check first.
        # The check has clients of its own, cancelled only by close(): when a range fails first (a missing table
        # answers 403/404 to the reads) and cancels the run, the check still finishes and names the real cause.
        check_apis = ApiPool(self.airtable, self.limiter, run.apis.stats, self._closing, lane=run.table.lane)
        run.spec_check = self._spec_checks.submit(self._spec_check.verify, run.base, run.table, check_apis)
        run.spec_check.add_done_callback(lambda _: check_apis.close())
        if run.mode != "full":
            run.spec_check.result()
        tombstoned = 0
        scan_ranges = 1
        fallback = None
        if run.mode == "computed" and run.store.watermark() is None:
            fallback, run.mode = NO_WATERMARK, "full"  # a first import brings the computed cells too
        if run.mode == "computed":
            self._pool.submit(run_computed_refresh, run).result()
        if run.mode == "incremental":
            # The poll runs on the shared pool too, so concurrent tables share one worker budget.
            outcome = self._pool.submit(run_incremental, run, overlap=self.poll_overlap).result()
            if outcome is None:
                fallback = NO_WATERMARK
                run.mode = "full"
        if run.mode == "full":
            full = run_full(run, self._pool, workers=self.workers, range_rows=self.range_rows)
            tombstoned, scan_ranges = full.tombstoned, full.scan_ranges
        stats = run.apis.stats
        return SyncResult(
            base=run.base.key,
            table=run.table.key,
            mode=run.mode,
            rows_seen=run.tally.rows_seen,
            inserted=run.tally.inserted,
            updated=run.tally.updated,
            unchanged=run.tally.unchanged,
            tombstoned=tombstoned,
            restored=run.tally.restored,
            cell_errors=run.tally.cell_errors,
            requests=stats.requests,
            throttled_429=stats.throttled_429,
            retried_5xx=stats.retried_5xx,
            duration_s=round(time.perf_counter() - started, 3),
            row_count=run.store.live_count(),
            watermark=run.store.watermark(),  # as stored: a watermark never moves backwards
            scan_ranges=scan_ranges,
            fallback_reason=fallback,
        )

    def _cancel_running(self) -> None:
        with self._lock:
            for cancel in self._running:
                cancel.set()

    def _register(self) -> threading.Event:
        cancel = threading.Event()
        with self._lock:
            if self._closed:
                raise RuntimeError("this SyncEngine is closed")
            self._running.add(cancel)
        return cancel

    def _store(self, base: BaseSpec, table: TableSpec) -> TableStore:
        key = (base.key, table.key)
        with self._lock:
            store = self._stores.get(key)
        if store is None:
            store = TableStore(self.db, base, table)  # checks the schema once: outside the lock
            with self._lock:
                store = self._stores.setdefault(key, store)
        return store
