"""Time as the sandbox sees it: real time plus an offset tests can move forward.

Webhook expiry (7 days), payload retention (7 days) and the 30 s rate-limit penalty are all
measured on this clock, so a test can jump a week ahead without waiting.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


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


def iso_millis(moment: datetime | float) -> str:
    """Airtable's timestamp format: ``2024-01-02T03:04:05.678Z`` (UTC, milliseconds)."""
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
