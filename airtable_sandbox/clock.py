"""Time as the sandbox sees it: real time plus an offset tests can move forward.

Webhook expiry (7 days), payload retention (7 days) and the 30 s rate-limit penalty are all
measured on this clock, so a test can jump a week ahead without waiting.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from airtable_formula.timestamps import iso_millis

__all__ = ["Clock", "iso_millis"]  # iso_millis lives with the formula engine, which the API serves too


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, like ``time.time()``."""
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
