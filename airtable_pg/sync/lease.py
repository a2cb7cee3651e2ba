"""Keep a sync run's lease alive while it works, and stop the run the moment the lease is lost.

Pages renew the lease as they are written, but a run can be silent for longer than the lease (a 30 s
penalty after a 429, a slow first page at high latency): a timer renews it meanwhile. If renewing finds
the run declared dead by another process, the run is cancelled and fails with ``RunLost``.
"""

from __future__ import annotations

import logging
import threading
import uuid

from airtable_pg.postgres.errors import RunLost
from airtable_pg.postgres.sync_state import HEARTBEAT_SECONDS
from airtable_pg.postgres.table_store import TableStore

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, store: TableStore, scan_id: uuid.UUID, cancel: threading.Event) -> None:
        self.store = store
        self.scan_id = scan_id
        self.cancel = cancel
        self.lost: RunLost | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="sync-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """Raise ``RunLost`` if the lease was lost (the run's own failure then names the real cause)."""
        if self.lost is not None:
            raise self.lost

    def _renew(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.heartbeat(self.scan_id)
            except RunLost as lost:
                self.lost = lost
                self.cancel.set()
                return
            except Exception:  # a database hiccup: the next page or tick renews; the lease has slack for it
                log.warning("could not renew the lease of sync run %s", self.scan_id, exc_info=True)
