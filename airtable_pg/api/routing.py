"""Where the API serves an entity's reads from: its backend flag (``airtable_pg.routing.flags``).

* ``airtable`` (the default, and what any failure to read the flags answers): Airtable answers, relayed through the
  shared bucket, exactly as the app would have been answered without airtable_pg.
* ``shadow``: Airtable answers too; for a share of the reads (``AIRTABLE_PG_SHADOW_SHARE``) the mirror's answer to
  the same read is compared afterwards on a worker of its own, off the request path: the app waits no longer than
  in ``airtable``. First pages and single records only: a later page's offset is Airtable's, which the mirror
  cannot continue.
* ``postgres_primary``: the mirror answers.

An API without an Airtable token can only serve the mirror: there every entity is served as ``postgres_primary``.
Writes follow the authority matrix whatever the mode.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airtable_pg.airtable.api_pool import read_records
from airtable_pg.api.errors import ApiError
from airtable_pg.api.listing import Listing
from airtable_pg.api.params import ListOptions
from airtable_pg.api.records import shape
from airtable_pg.api.tables import ServedTable
from airtable_pg.api.writes import Forwarder
from airtable_pg.postgres.api_reads import MirrorReader, records_by_id
from airtable_pg.routing.flags import POSTGRES_PRIMARY, BackendFlags, entity_key
from airtable_pg.routing.shadow import ShadowReads

log = logging.getLogger(__name__)
MAX_WAITING = 100  # shadow comparisons queued at most; beyond, a read is served without one (counted as skipped)
# Skipped reads are counted in memory on the request path (no database write while the API is overloaded) and
# stored by the next comparison that runs, beside its own count: `shadow report` and the gate's details show them.


class Router:
    def __init__(
        self,
        flags: BackendFlags,
        shadow: ShadowReads,
        read: MirrorReader,
        writes: Forwarder,
        *,
        share: float = 1.0,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.flags, self.shadow, self.read, self.writes = flags, shadow, read, writes
        self.share, self._chance = share, chance
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shadow-read")
        self._waiting = threading.BoundedSemaphore(MAX_WAITING)
        self._skipped: dict[str, int] = {}  # entity → reads not compared since the last flush (queue full)
        self._skipped_lock = threading.Lock()

    def mode(self, served: ServedTable) -> str:
        if not self.writes.can_relay:
            return POSTGRES_PRIMARY
        return self.flags.mode(entity_key(served.base, served.table))

    def mode_now(self, served: ServedTable) -> str | None:
        """The mode if it is known without the database (flags read moments ago), else ``None``: ask ``mode``."""
        if not self.writes.can_relay:
            return POSTGRES_PRIMARY
        return self.flags.mode_if_fresh(entity_key(served.base, served.table))

    def after_list(self, served: ServedTable, options: ListOptions, request: str, answer: Any) -> None:
        """In ``shadow``: compare the mirror's answer to this list read with Airtable's, later."""
        if options.offset or not isinstance(answer, dict) or not self._sampled():
            return
        self._submit(served, lambda: self._compare_list(served, options, request, answer.get("records") or []))

    def after_get(self, served: ServedTable, record_id: str, by_field_id: bool, request: str, answer: Any) -> None:
        if not isinstance(answer, dict) or not self._sampled():
            return
        self._submit(served, lambda: self._compare_get(served, record_id, by_field_id, request, answer))

    def close(self) -> None:
        self.shadow.close()
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _sampled(self) -> bool:
        return self.share >= 1.0 or self._chance() < self.share

    def _submit(self, served: ServedTable, work: Callable[[], None]) -> None:
        if not self._waiting.acquire(blocking=False):
            entity = entity_key(served.base, served.table)
            with self._skipped_lock:
                self._skipped[entity] = self._skipped.get(entity, 0) + 1
            return

        def run() -> None:
            try:
                self._flush_skipped()
                work()
            except Exception as error:  # noqa: BLE001 - a shadow read never breaks the API; it is logged
                log.warning("shadow read failed: %s", error)
            finally:
                self._waiting.release()

        self._workers.submit(run)

    def _flush_skipped(self) -> None:
        with self._skipped_lock:
            skipped, self._skipped = self._skipped, {}
        if skipped:
            self.shadow.count_skipped(skipped)

    def _compare_list(self, served: ServedTable, options: ListOptions, request: str, airtable: list[Any]) -> None:
        try:
            mirror = Listing(served, options, self.read).page().body().get("records") or []
        except ApiError:
            return  # what the mirror does not answer (a view, string cells…) is not compared
        self.shadow.compare(served.base, served.table, request, airtable, mirror, ordered=bool(options.sort),
                            refetch=lambda ids: self._both_sides(served, ids))  # fmt: skip

    def _compare_get(
        self, served: ServedTable, record_id: str, by_field_id: bool, request: str, airtable: dict[str, Any]
    ) -> None:
        found = self.read(lambda cur: records_by_id(cur, served.base, served.table, [record_id]))
        mirror = (
            [shape(served, found[record_id], by_field_id=by_field_id, field_ids=None)] if record_id in found else []
        )
        self.shadow.compare(served.base, served.table, request, [airtable], mirror, ordered=False,
                            refetch=lambda ids: self._both_sides(served, ids))  # fmt: skip

    def _both_sides(self, served: ServedTable, ids: list[str]) -> tuple[list[Any], list[Any]]:
        """Both answers again for these records, by field id on both sides."""
        airtable = read_records(self.writes.client(), served.base.id, served.table.id, ids)
        found = self.read(lambda cur: records_by_id(cur, served.base, served.table, ids))
        mirror = [shape(served, found[i], by_field_id=True, field_ids=None) for i in ids if i in found]
        return airtable, mirror
