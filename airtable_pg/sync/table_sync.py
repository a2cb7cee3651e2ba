"""What one table's sync carries around: its store, converter, HTTP clients, counters and progress."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field

from airtable_pg.airtable.api_pool import ApiPool
from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.postgres.mirror_writer import ApplyCounts
from airtable_pg.postgres.table_store import TableStore
from airtable_pg.spec import BaseSpec, TableSpec
from airtable_pg.sync.spec_check import SpecMismatch

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one table's sync, for progress bars; delivered from worker threads."""

    base: str  # base key
    table: str  # table key
    mode: str  # "full" | "incremental"
    phase: str  # "started" | "planned" | "page" | "finished" | "failed"
    rows_seen: int = 0
    ranges_done: int = 0
    ranges_total: int = 0
    expected_rows: int | None = None  # the mirror's live rows before a full sync: a guess at the total
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class Tally:
    """Counts of one table's sync, added to by several worker threads."""

    rows_seen: int = 0
    inserted: int = 0
    updated: int = 0
    restored: int = 0
    cell_errors: int = 0
    ranges_done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_page(self, rows: int, counts: ApplyCounts, cell_errors: int) -> int:
        """Count one applied page; returns the rows seen so far."""
        with self._lock:
            self.rows_seen += rows
            self.inserted += counts.inserted
            self.updated += counts.updated
            self.restored += counts.restored
            self.cell_errors += cell_errors
            return self.rows_seen

    def forget_rows(self, rows: int, cell_errors: int) -> None:
        """A range restarted from scratch: its rows will be seen (and counted) again.

        What it wrote stays counted — those writes happened; the rerun finds those rows unchanged.
        """
        with self._lock:
            self.rows_seen -= rows
            self.cell_errors -= cell_errors

    def range_done(self) -> int:
        with self._lock:
            self.ranges_done += 1
            return self.ranges_done

    @property
    def unchanged(self) -> int:
        return max(0, self.rows_seen - self.inserted - self.updated)

    def as_dict(self) -> dict[str, int]:
        return {
            "rows_seen": self.rows_seen,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "restored": self.restored,
            "cell_errors": self.cell_errors,
        }


@dataclass
class TableSync:
    """Everything one table's sync needs; ``cancel`` stops all of its workers at their next request or page."""

    base: BaseSpec
    table: TableSpec
    mode: str
    store: TableStore
    converter: RecordConverter
    apis: ApiPool
    cancel: threading.Event
    on_progress: ProgressCallback | None = None
    tally: Tally = field(default_factory=Tally)
    ranges_total: int = 0
    expected_rows: int | None = None
    spec_check: Future[None] | None = None  # does Airtable have the spec's table and fields (spec_check.py)

    def confirm_spec(self) -> None:
        """Wait for the spec check; raise its error if Airtable lacks a table or field. Call before writing rows."""
        if self.spec_check is not None:
            self.spec_check.result()

    def spec_mismatch(self) -> SpecMismatch | None:
        """The spec check's ``SpecMismatch``, if it found one: it explains whatever the reads made meanwhile ran into
        (a missing table answers 404). Any other failure of the check (a refused token, say) the reads met
        themselves."""
        if self.spec_check is None:
            return None
        wait([self.spec_check])  # one request at most, sent with the scan's first page (or cancelled by now)
        failure = None if self.spec_check.cancelled() else self.spec_check.exception()
        return failure if isinstance(failure, SpecMismatch) else None

    def pages(self, **options: object) -> Iterator[list[dict]]:
        """This table's records, a page at a time, by field id; Airtable's errors as ``AirtableError``."""
        return self.apis.iterate(self.base.id, self.table.id, **options)

    def report(self, phase: str, message: str = "") -> None:
        if self.on_progress is None:
            return
        event = ProgressEvent(
            base=self.base.key,
            table=self.table.key,
            mode=self.mode,
            phase=phase,
            rows_seen=self.tally.rows_seen,
            ranges_done=self.tally.ranges_done,
            ranges_total=self.ranges_total,
            expected_rows=self.expected_rows,
            message=message,
        )
        try:
            self.on_progress(event)
        except Exception:  # a broken progress display must never fail a sync
            log.exception("progress callback failed for %s.%s", self.base.key, self.table.key)


def describe_error(error: BaseException) -> str:
    """A one-line, bounded description of an error (for sync_run.error, logs and the CLI)."""
    text = " ".join(str(error).split()) or type(error).__name__
    line = f"{type(error).__name__}: {text}"
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def record_failure(store: TableStore, scan_id: uuid.UUID, error: BaseException) -> None:
    """Mark the run failed; a failure to do so (database gone) must not hide the original error."""
    try:
        store.fail_scan(scan_id, describe_error(error))
    except Exception:
        log.exception("could not mark sync run %s failed", scan_id)
