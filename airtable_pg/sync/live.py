"""The live sync of every base: hooks kept healthy, their payloads applied as they come.

``care`` makes each base's hook healthy: an unhealthy hook's remaining payloads are applied while Airtable
still serves them, a new hook is made, and each table is polled from its watermark so nothing that happened
between the two is lost. ``apply_all`` applies waiting payloads. ``follow`` does that forever: woken at once by
a verified notification (Postgres ``NOTIFY`` from the receiver, in any process) and at least every
``interval`` seconds without one — so without a receiver (no public HTTPS), payloads still arrive, only later.
One process follows a base at a time (``postgres.follow_lock``): another waits, told who holds it, and takes over
when that one stops. ``stop`` ends a follow within a pass: the waits are on events that ``stop`` sets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from airtable_pg.airtable.client import AirtableConfig, RequestStats, make_api
from airtable_pg.airtable.errors import AirtableError
from airtable_pg.postgres import webhook_state
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.follow_lock import FollowLock, Holder
from airtable_pg.postgres.listen import start_listener
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import NOTIFY_CHANNEL
from airtable_pg.spec import BaseSpec, SyncSpec
from airtable_pg.sync.engine import SyncEngine, SyncResult
from airtable_pg.sync.table_sync import describe_error
from airtable_pg.sync.webhook_applier import ApplyReport, WebhookApplier
from airtable_pg.sync.webhook_manager import EnsureResult, WebhookManager

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 10.0
TAKE_OVER_POLL_SECONDS = 1.0  # how often a waiting follower asks whether the holder has stopped


@dataclass
class CareResult:
    base: str
    ensured: EnsureResult
    drained: ApplyReport | None  # the replaced hook's last payloads
    gap_poll: list[SyncResult]


class LiveSync:
    def __init__(self, spec: SyncSpec, database_url: str, airtable: AirtableConfig, *, workers: int) -> None:
        self.spec = spec
        self.database_url = database_url
        self.airtable = airtable = airtable.for_spec(spec)  # the spec may leave room for other clients
        self.workers = workers
        self.db = connection_pool(database_url)
        limiter = airtable.rate_limiter(self.db)
        apis = {lane: make_api(airtable, limiter, RequestStats(), lane=lane) for lane in ("standard", "fast")}
        self.api = apis["standard"]  # hook care is no one's provisioning: it never takes the fast lane's slots
        self.manager = WebhookManager(self.db, self.api)
        # One hook carries every table of its base, so a base's payloads are read in the fast lane when any of its
        # tables is there (the users), and a base without one never takes the fast lane's reserved slots.
        self._appliers = {lane: WebhookApplier(spec, self.db, api) for lane, api in apis.items()}
        self._lock = threading.Lock()  # an Api's session is one thread's at a time

    def applier(self, base: BaseSpec) -> WebhookApplier:
        return self._appliers["fast" if any(table.lane == "fast" for table in base.tables.values()) else "standard"]

    def care(self, notification_url: str | None, bases: list[BaseSpec] | None = None) -> list[CareResult]:
        results = []
        for base in bases or list(self.spec.bases.values()):
            with self._lock:
                stored = self.manager.stored(base)
                drained = None
                health = self.manager.health(base, notification_url) if stored else None
                if stored is not None and health is not None and not health.healthy:
                    drained = self._drain(base)
                ensured = self.manager.ensure(base, notification_url)
            gap = self._poll_gap(base) if ensured.created else []
            results.append(CareResult(base.key, ensured, drained, gap))
        return results

    def apply_all(self) -> list[ApplyReport]:
        reports = []
        for base in self.spec.bases.values():
            with self._lock:
                try:
                    reports.append(self.applier(base).apply(base))
                except AirtableError as error:
                    # The hook is gone or refused: its care re-creates it and polls the gap.
                    log.warning("webhook payloads of base %s: %s", base.key, describe_error(error))
                    self._note(base, describe_error(error))
        return reports

    def follow(
        self,
        stop: threading.Event,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        on_applied: Callable[[list[ApplyReport]], None] | None = None,
        on_waiting: Callable[[str, Holder], None] | None = None,
        on_following: Callable[[list[str]], None] | None = None,
    ) -> None:
        """Apply payloads until ``stop``: at once after a notification, else every ``interval`` seconds.

        First each base's follow lock: ``on_waiting(base, holder)`` when another process holds it (again when the
        holder changes), ``on_following(bases)`` once this process holds them all."""
        with FollowLock(self.database_url) as lock:
            if not self._take_over(lock, stop, on_waiting):
                return
            if on_following is not None:
                on_following([base.key for base in self.spec.bases.values()])
            wake = start_listener(self.database_url, NOTIFY_CHANNEL, stop)
            threading.Thread(target=_set_on, args=(stop, wake), name="follow-stop", daemon=True).start()
            while not stop.is_set():
                try:
                    reports = self.apply_all()
                    if on_applied is not None:
                        on_applied(reports)
                except Exception:
                    log.exception("webhook apply pass failed; retrying")
                wake.wait(interval)
                wake.clear()

    def _take_over(
        self, lock: FollowLock, stop: threading.Event, on_waiting: Callable[[str, Holder], None] | None
    ) -> bool:
        """Hold every base's follow lock, waiting for other holders to stop; False when ``stop`` came first."""
        for base in self.spec.bases.values():
            told: Holder | None = None
            while (holder := lock.try_acquire(base.id)) is not None:
                if holder != told and on_waiting is not None:
                    on_waiting(base.key, holder)
                told = holder
                if stop.wait(TAKE_OVER_POLL_SECONDS):
                    return False
        return True

    def _drain(self, base: BaseSpec) -> ApplyReport | None:
        try:
            return self.applier(base).apply(base)
        except AirtableError as error:  # gone for good: the gap poll covers what it held
            log.warning("could not read the old hook of base %s: %s", base.key, describe_error(error))
            return None

    def _poll_gap(self, base: BaseSpec) -> list[SyncResult]:
        tables = [(base.key, table.key) for table in base.tables.values()]
        with SyncEngine(self.spec, self.database_url, self.airtable, workers=self.workers) as engine:
            return engine.sync_tables("incremental", tables)

    def _note(self, base: BaseSpec, error: str) -> None:
        with transaction(self.db) as cur:
            webhook_state.note_error(cur, base.id, error)


def _set_on(stop: threading.Event, wake: threading.Event) -> None:
    """Wake the follow loop when it is stopped, so Ctrl-C never waits out the rest of an ``interval``."""
    stop.wait()
    wake.set()
