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

**Lanes.** Tables in the fast lane (the users: provisioning within seconds) must not wait behind a backfill,
whose workers book slots up to a few seconds ahead. So slots at every multiple of ``reserve_every × spacing``
since the epoch (by the database's clock) are held for the fast lane (``AIRTABLE_PG_FAST_LANE_SHARE``: one
slot in five, 1 request/s, by default), and the standard lane's queue (``next_slot``) steps over each one it
would come within a spacing of. A fast request takes the earlier of the queue's next slot and the next
reserved slot nobody took (``fast_next_slot``): an idle base serves it at once, a saturated one within one
reserved period (~1 s). A reserved slot no fast request wanted is not wasted: a standard request arriving
within ``LEND_WINDOW_SLOTS`` spacings of it takes it, ahead of the queue, so a backfill loses almost nothing
to the reservation while the fast lane is idle. Any two slots of either lane stay a spacing apart, so no
second ever holds more than five. Both lanes book under the bucket row's lock, in one transaction.
"""

from __future__ import annotations

import math
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

LANES = ("standard", "fast")
# How close a reserved slot no fast request took must be for a standard request to take it. More than one
# spacing: standard arrivals come about one spacing apart while a backfill saturates the bucket, so one lands
# in the window; small, because every lent slot is one the fast lane cannot have.
LEND_WINDOW_SLOTS = 1.5

# Locks the base's bucket row (created on first use) and reads it with the database's clock.
_LOCK_BUCKET = sa.text(
    f"""
    insert into {_BUCKETS} as bucket (base_id, next_slot)
    values (:base_id, clock_timestamp())
    on conflict (base_id) do update set base_id = excluded.base_id
    returning extract(epoch from bucket.next_slot), extract(epoch from bucket.blocked_until),
              extract(epoch from bucket.fast_next_slot), extract(epoch from clock_timestamp())
    """
)
_BOOK = sa.text(
    f"""
    update {_BUCKETS} set
        next_slot = greatest(next_slot, to_timestamp(:next_slot)),
        fast_next_slot = greatest(fast_next_slot, to_timestamp(:fast_next_slot)),  -- greatest() skips a null
        requests = requests + :counted,
        fast_requests = fast_requests + :fast_counted
    where base_id = :base_id
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
_COUNTERS = sa.text(
    f"select requests, throttled, next_slot, blocked_until, fast_requests from {_BUCKETS} where base_id = :base_id"
)


class Cancelled(Exception):
    """A wait for a slot was interrupted because the work it served was cancelled."""


@dataclass(frozen=True)
class BucketState:
    requests: int
    throttled: int
    next_slot: datetime | None
    blocked_until: datetime | None
    fast_requests: int = 0  # of ``requests``, those of the fast lane


@dataclass(frozen=True)
class Booking:
    """Where one request goes on the grid, and how the bucket row moves (epoch seconds, database clock)."""

    slot: float
    next_slot: float  # the standard lane's next free slot after this booking
    fast_next_slot: float  # reserved slots before this are taken (by the fast lane, or lent)
    reserved: bool  # the slot is one the fast lane's reserved ones


def book(
    lane: str,
    *,
    now: float,
    next_slot: float | None,
    fast_next_slot: float | None,
    blocked_until: float | None,
    spacing: float,
    reserve_every: int,
    lend_window: float,
) -> Booking:
    """The slot a ``lane`` request gets: a pure function of the bucket row, so it is tested on its own.

    Invariant: no standard slot is ever booked within ``spacing`` of a reserved slot nobody took yet, and a taken
    reserved slot pushes the standard lane's next slot past it; so any two booked slots are ``spacing`` apart.
    """
    earliest = max(now, blocked_until or 0.0)
    queue = max(next_slot or 0.0, earliest)  # where the standard lane's next slot would be
    keep_fast = fast_next_slot or 0.0
    if reserve_every == 0:
        return Booking(queue, queue + spacing, keep_fast, False)
    period = reserve_every * spacing

    def reserved_from(moment: float) -> float:  # the first reserved slot at or after ``moment``
        return math.ceil(moment / period - 1e-9) * period

    spare = reserved_from(max(keep_fast, earliest))  # the next reserved slot nobody took
    nearest = reserved_from(max(keep_fast, earliest, queue - spacing + 1e-6))
    if nearest < queue + spacing:  # too close to a reserved slot nobody took: the queue's slot moves past it
        queue = nearest + spacing
    # The standard lane borrows it only when near: a fast request arriving later takes the next one.
    take_spare = spare < queue and (lane == "fast" or spare <= now + lend_window)
    if take_spare:
        return Booking(spare, max(next_slot or 0.0, spare + spacing), spare + spacing, True)
    return Booking(queue, queue + spacing, keep_fast, False)


class RateLimiter:
    """Reserves request slots per base in the state schema's ``rate_limit`` table; thread-safe, process-shared."""

    def __init__(
        self,
        db: sa.Engine,
        *,
        requests_per_second: float = _DEFAULTS["requests_per_second"].default,
        margin_seconds: float = _DEFAULTS["rate_margin_ms"].default / 1000,
        penalty_seconds: float = _DEFAULTS["penalty_seconds"].default,
        fast_lane_share: float = _DEFAULTS["fast_lane_share"].default,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.db = db
        margin_seconds = max(margin_seconds, 0.0)
        self.spacing = 1.0 / requests_per_second + margin_seconds
        self.reserve_every = reserve_every(requests_per_second, fast_lane_share)
        self.lend_window = LEND_WINDOW_SLOTS * self.spacing
        self.late_tolerance = max(5 * margin_seconds * LATE_SHARE_OF_SLACK, MIN_LATE_TOLERANCE_SECONDS)
        self.penalty_seconds = penalty_seconds

    def acquire(self, base_id: str, cancel: threading.Event | None = None, lane: str = "standard") -> float:
        """Block until this caller may send one request to ``base_id``; returns the seconds slept for it.

        ``lane`` is the table's spec lane: ``fast`` requests take reserved slots a backfill cannot book.
        """
        if lane not in LANES:
            raise ValueError(f"lane must be one of {', '.join(LANES)}, got {lane!r}")
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled before sending")
        slept = 0.0
        counted = 1
        missed = 0
        while True:
            deadline = self._reserve(base_id, counted, lane)
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

    def _reserve(self, base_id: str, counted: int, lane: str) -> float:
        """Book the next slot of ``lane``; returns it on this process's ``time.monotonic()`` clock."""
        with self.db.begin() as conn:
            # Losing a reservation in a crash is harmless, and a commit waiting for its WAL flush would
            # delay every request behind it.
            conn.execute(_ASYNC_COMMIT)
            next_slot, blocked_until, fast_next_slot, now = conn.execute(_LOCK_BUCKET, {"base_id": base_id}).one()
            read_at = time.monotonic()
            booking = book(
                lane,
                now=float(now),
                next_slot=_seconds(next_slot),
                fast_next_slot=_seconds(fast_next_slot),
                blocked_until=_seconds(blocked_until),
                spacing=self.spacing,
                reserve_every=self.reserve_every,
                lend_window=self.lend_window,
            )
            conn.execute(
                _BOOK,
                {
                    "base_id": base_id,
                    "next_slot": booking.next_slot,
                    "fast_next_slot": booking.fast_next_slot,
                    "counted": counted,
                    "fast_counted": counted if lane == "fast" else 0,
                },
            )
        return read_at + booking.slot - float(now)

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


def reserve_every(requests_per_second: float, fast_lane_share: float) -> int:
    """One grid slot in this many is the fast lane's (0: no reservation)."""
    if fast_lane_share <= 0:
        return 0
    every = round(requests_per_second / fast_lane_share)
    if every < 2:
        raise ValueError(
            f"the fast lane's share ({fast_lane_share}/s) must leave the standard lane at least half of "
            f"{requests_per_second} requests/s"
        )
    return every


def _seconds(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
