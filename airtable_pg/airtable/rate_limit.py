"""One request bucket per Airtable base, shared by every thread and every process on the same database.

Airtable allows 5 requests per second per base and answers a burst with a 429 and a 30-second lock-out
for *everyone* using that base. A limiter inside one process cannot prevent that when two syncs (a Dagster
run and a CLI, or two run workers) hit the same base, so the bucket lives in Postgres
(``airtable_sync.rate_limit``) and every request reserves its slot with one atomic statement:

    slot      = greatest(next_slot, blocked_until, clock_timestamp())
    next_slot = slot + spacing

then sleeps until ``slot``. Slots are spaced ``1/rps + margin`` apart, so requests *start* at most five a
second yet overlap freely while in flight (a new one every ~208 ms even when each takes 800 ms). The wait is
computed by the database (``slot - clock_timestamp()``) so processes on machines with skewed clocks still
agree. A 429 sets ``blocked_until`` for every process; a sleeper checks for a block shortly *before* its
slot (never between the slot and the send, where a slow query would delay the request) and re-reserves.

Six arrivals in a row span ``5 × spacing`` = 1 s + 5 × margin, so a request may start up to 5 × margin
late before Airtable sees six in one second. A sender that wakes later than half of that (a busy
interpreter, a slow commit) gives its slot up and takes a new one instead of crowding the requests
booked after it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from airtable_pg.names import STATE_SCHEMA
from airtable_pg.settings import Settings

_DEFAULTS = Settings.model_fields

# The defaults of requests_per_second, margin and penalty are settings (airtable_pg.settings). The margin:
# slots a little further apart than 1/rps absorb the jitter between a slot and the request's arrival at
# Airtable (thread wake-up, connection reuse): with 8 ms, six arrivals span 1.04 s, never one second.
_BUCKETS = f'"{STATE_SCHEMA}".rate_limit'  # a constant of ours, quoted: never user input
BLOCK_CHECK_LEAD_SECONDS = 0.05  # how long before its slot a sleeper looks for a new 429 block
LATE_SHARE_OF_SLACK = 0.5  # of the 5 × margin slack: the rest is for the send path's own jitter
MIN_LATE_TOLERANCE_SECONDS = 0.002
MAX_MISSED_SLOTS = 5  # then send anyway: a machine this busy must still make progress

_RESERVE = sa.text(
    f"""
    insert into {_BUCKETS} as bucket (base_id, next_slot, requests)
    values (:base_id, clock_timestamp() + make_interval(secs => :spacing), :counted)
    on conflict (base_id) do update set
        next_slot = greatest(bucket.next_slot, bucket.blocked_until, clock_timestamp())
                    + make_interval(secs => :spacing),
        requests = bucket.requests + :counted
    returning extract(epoch from (bucket.next_slot - make_interval(secs => :spacing) - clock_timestamp()))
    """
)
_ASYNC_COMMIT = sa.text("set local synchronous_commit = off")
_BLOCKED_FOR = sa.text(
    f"select extract(epoch from (blocked_until - clock_timestamp())) from {_BUCKETS} where base_id = :base_id"
)
_BLOCK = sa.text(
    f"""
    insert into {_BUCKETS} as bucket (base_id, next_slot, blocked_until, throttled)
    values (:base_id, clock_timestamp(), clock_timestamp() + make_interval(secs => :penalty), 1)
    on conflict (base_id) do update set
        blocked_until = greatest(bucket.blocked_until, clock_timestamp() + make_interval(secs => :penalty)),
        throttled = bucket.throttled + 1
    """
)
_COUNTERS = sa.text(f"select requests, throttled, next_slot, blocked_until from {_BUCKETS} where base_id = :base_id")


class Cancelled(Exception):
    """A wait for a slot was interrupted because the work it served was cancelled."""


@dataclass(frozen=True)
class BucketState:
    requests: int
    throttled: int
    next_slot: datetime | None
    blocked_until: datetime | None


class RateLimiter:
    """Reserves request slots per base in the state schema's ``rate_limit`` table; thread-safe, process-shared."""

    def __init__(
        self,
        db: sa.Engine,
        *,
        requests_per_second: float = _DEFAULTS["requests_per_second"].default,
        margin_seconds: float = _DEFAULTS["rate_margin_ms"].default / 1000,
        penalty_seconds: float = _DEFAULTS["penalty_seconds"].default,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.db = db
        margin_seconds = max(margin_seconds, 0.0)
        self.spacing = 1.0 / requests_per_second + margin_seconds
        self.late_tolerance = max(5 * margin_seconds * LATE_SHARE_OF_SLACK, MIN_LATE_TOLERANCE_SECONDS)
        self.penalty_seconds = penalty_seconds

    def acquire(self, base_id: str, cancel: threading.Event | None = None) -> float:
        """Block until this caller may send one request to ``base_id``; returns the seconds slept for it."""
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled before sending")
        slept = 0.0
        counted = 1
        missed = 0
        while True:
            deadline = self._reserve(base_id, counted)
            counted = 0  # a re-reservation is the same request
            if deadline - time.monotonic() > BLOCK_CHECK_LEAD_SECONDS:
                slept += self._sleep_until(deadline - BLOCK_CHECK_LEAD_SECONDS, cancel)
                # A 429 elsewhere after we reserved: sending at our slot would earn another 429 (and on
                # Airtable perhaps a longer lock-out), so queue again behind the block.
                if self._blocked_for(base_id) > 0:
                    continue
            slept += self._sleep_until(deadline, cancel)
            if time.monotonic() - deadline > self.late_tolerance and missed < MAX_MISSED_SLOTS:
                missed += 1
                continue
            return slept

    def throttled(self, base_id: str) -> None:
        """Airtable answered 429: block the base for every process for ``penalty_seconds``."""
        with self.db.begin() as conn:
            conn.execute(_BLOCK, {"base_id": base_id, "penalty": self.penalty_seconds})

    def state(self, base_id: str) -> BucketState | None:
        with self.db.connect() as conn:
            row = conn.execute(_COUNTERS, {"base_id": base_id}).one_or_none()
        return None if row is None else BucketState(*row)

    def _reserve(self, base_id: str, counted: int) -> float:
        """Book the next slot; returns it on this process's ``time.monotonic()`` clock."""
        with self.db.begin() as conn:
            # Losing a reservation in a crash is harmless, and a commit waiting for its WAL flush would
            # delay every request behind it.
            conn.execute(_ASYNC_COMMIT)
            wait = conn.execute(_RESERVE, {"base_id": base_id, "spacing": self.spacing, "counted": counted}).scalar()
            deadline = time.monotonic() + float(wait)
        return deadline

    def _sleep_until(self, deadline: float, cancel: threading.Event | None) -> float:
        seconds = deadline - time.monotonic()
        _sleep(seconds, cancel)
        return max(seconds, 0.0)

    def _blocked_for(self, base_id: str) -> float:
        with self.db.connect() as conn:
            remaining = conn.execute(_BLOCKED_FOR, {"base_id": base_id}).scalar()
        return float(remaining) if remaining is not None else 0.0


def _sleep(seconds: float, cancel: threading.Event | None) -> None:
    if seconds <= 0:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled while waiting for a rate-limit slot")
        return
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled("cancelled while waiting for a rate-limit slot")
