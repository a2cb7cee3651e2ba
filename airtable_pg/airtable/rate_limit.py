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

**The token.** Airtable also allows 50 requests/s per token across all its bases. With a token (``token_key``:
a fingerprint), a request takes a slot of both buckets in the same transaction: its base's booking (as above)
moved to the first grid unit (``airtable.slot_grid``) the token's calendar has free, so it is a slot of both.
A base holds at most ``BOOKED_AHEAD_PER_BASE`` (one) slot of the token's calendar; its further requests wait in
their process before booking. So 20 bases syncing at once take turns (fair share, whatever their number of
workers), and the calendar stays short: a fast-lane request (which skips that wait, and still takes its base's
reserved slots) or a newly active base is served within ~20 units (0.4 s), not behind every worker's booking.

**Send time.** A slot guarantees the limit only if the request leaves at it. A sender that wakes more than
``late_tolerance`` after its slot, or that is stalled between waking and sending, gives the slot up and books
another (``Slot.missed``, checked again by the HTTP adapter as the last step before the request leaves): a late
request would crowd the slots booked after it, and Airtable counts arrivals, not bookings. It never sends late,
however busy the machine: it only books again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from airtable_pg.airtable.slot_grid import (
    BOOKED_AHEAD_PER_BASE,
    grid_unit,
    spacing_units,
    units_at_or_after,
)
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
# How long the quickest round trip to the database keeps telling where its clock stands (then a newer one does,
# so a drift between the clocks never accumulates).
CLOCK_SAMPLE_SECONDS = 30.0
GATE_POLL_SECONDS = 0.2  # how often a thread waiting for its process's turn at a base looks for a cancel

LANES = ("standard", "fast")
# The lanes requests are counted by (``/metrics``): the outbound pusher's requests book standard slots, but are
# counted apart, so an operator sees whose requests (and whose 429s) they were.
COUNTED_LANES = (*LANES, "outbound")
# How close a reserved slot no fast request took must be for a standard request to take it. More than one
# spacing: standard arrivals come about one spacing apart while a backfill saturates the bucket, so one lands
# in the window; small, because every lent slot is one the fast lane cannot have.
LEND_WINDOW_SLOTS = 1.5

# A bucket row is created once, outside the booking transaction, so the lock is held as briefly as possible.
_ENSURE_BUCKET = sa.text(
    f"insert into {_BUCKETS} (base_id, next_slot) values (:key, clock_timestamp()) on conflict (base_id) do nothing"
)
# Locks the base's row and the token's (when there is one: else the base's twice) in one round trip, always in
# the same order (by key) so no two processes deadlock, and reads them with the database's clock. Losing a
# reservation in a crash is harmless, and a commit waiting for its WAL flush would delay every request behind
# it: set_config(..., true) turns synchronous commit off for this transaction only.
_LOCK_BUCKETS = sa.text(
    f"""
    select base_id, extract(epoch from next_slot), extract(epoch from blocked_until),
           extract(epoch from fast_next_slot), slots, extract(epoch from clock_timestamp()),
           set_config('synchronous_commit', 'off', true)
    from {_BUCKETS} where base_id in (:base_id, :token_key) order by base_id for update
    """
)
# Both rows in one statement: the lock is held for two round trips (this and the commit), whatever the lane.
_BOOK = sa.text(
    f"""
    update {_BUCKETS} set
        next_slot = case when base_id = :base_id then greatest(next_slot, to_timestamp(:next_slot))
                    else next_slot end,
        fast_next_slot = case when base_id = :base_id  -- greatest() skips a null
                         then greatest(fast_next_slot, to_timestamp(:fast_next_slot)) else fast_next_slot end,
        requests = requests + :counted,
        fast_requests = fast_requests + :fast_counted,
        outbound_requests = outbound_requests + :outbound_counted,
        slots = case when base_id = :base_id then cast(:slots as bigint[]) else cast(:token_slots as bigint[]) end
    where base_id in (:base_id, :token_key)
    """
)
_BLOCKED_FOR = sa.text(
    f"select extract(epoch from (blocked_until - clock_timestamp())) from {_BUCKETS} where base_id = :base_id"
)
_BLOCK = sa.text(
    f"""
    insert into {_BUCKETS} as bucket (base_id, next_slot, blocked_until, throttled, fast_throttled, outbound_throttled)
    values (:base_id, clock_timestamp(), clock_timestamp() + make_interval(secs => :penalty), 1, :fast, :outbound)
    on conflict (base_id) do update set
        blocked_until = greatest(bucket.blocked_until, clock_timestamp() + make_interval(secs => :penalty)),
        throttled = bucket.throttled + 1,
        fast_throttled = bucket.fast_throttled + :fast,
        outbound_throttled = bucket.outbound_throttled + :outbound
    """
)
_SERVER_ERROR = sa.text(
    f"""
    insert into {_BUCKETS} as bucket (base_id, next_slot, server_errors, fast_server_errors, outbound_server_errors)
    values (:base_id, clock_timestamp(), 1, :fast, :outbound)
    on conflict (base_id) do update set
        server_errors = bucket.server_errors + 1,
        fast_server_errors = bucket.fast_server_errors + :fast,
        outbound_server_errors = bucket.outbound_server_errors + :outbound
    """
)
_COUNTERS = sa.text(
    f"select requests, throttled, next_slot, blocked_until, fast_requests, outbound_requests, fast_throttled, "
    f"outbound_throttled, fast_server_errors, outbound_server_errors from {_BUCKETS} where base_id = :base_id"
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
    outbound_requests: int = 0  # of ``requests``, the outbound pusher's
    fast_throttled: int = 0  # of the 429s, those answered to the fast lane
    outbound_throttled: int = 0
    fast_server_errors: int = 0  # of the 5xx, those answered to the fast lane
    outbound_server_errors: int = 0


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
    not_before: float | None = None,
) -> Booking:
    """The slot a ``lane`` request gets: a pure function of the bucket row, so it is tested on its own.

    Invariant: no standard slot is ever booked within ``spacing`` of a reserved slot nobody took yet, and a taken
    reserved slot pushes the standard lane's next slot past it; so any two booked slots are ``spacing`` apart.
    ``not_before``: no slot before this moment (the token's calendar is full until then); lending still
    looks at ``now``.
    """
    earliest = max(now, blocked_until or 0.0, not_before or 0.0)
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


def book_on_calendar(lane: str, *, now: float, taken: frozenset[int], **row: Any) -> Booking:
    """The first booking of ``lane`` in its base's bucket whose slot the token's calendar also has free.

    All values are grid units (whole numbers): a slot of both buckets. ``row``: ``book``'s other arguments.
    Terminates: each round starts a unit after the last refused slot, and the calendar is finite.
    """
    not_before = now
    while True:
        booking = book(lane, now=now, not_before=not_before, **row)
        if int(booking.slot) not in taken:
            return booking
        not_before = booking.slot + 1


@dataclass(frozen=True)
class Slot:
    """A booked moment to send at (``time.monotonic()``), and how late a send may still be."""

    deadline: float
    tolerance: float

    def missed(self) -> bool:
        """Sending now would be too late: the requests booked after this slot may already be leaving."""
        return time.monotonic() - self.deadline > self.tolerance


class RateLimiter:
    """Reserves request slots per base (and per token) in the state schema's ``rate_limit`` table.

    Thread-safe and shared by every process on the database. ``token_key``: the per-token bucket's key (a
    fingerprint, ``slot_grid.token_key``); without one only the per-base buckets are used. ``base_rates``: a
    lower rate for some bases (the spec's ``requests_per_second``, leaving the rest for other clients).
    """

    def __init__(
        self,
        db: sa.Engine,
        *,
        requests_per_second: float = _DEFAULTS["requests_per_second"].default,
        margin_seconds: float = _DEFAULTS["rate_margin_ms"].default / 1000,
        penalty_seconds: float = _DEFAULTS["penalty_seconds"].default,
        fast_lane_share: float = _DEFAULTS["fast_lane_share"].default,
        token_key: str | None = None,
        token_requests_per_second: float | None = _DEFAULTS["token_requests_per_second"].default,
        base_rates: Mapping[str, float] | None = None,
        fast_lane_bases: Collection[str] | None = None,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.db = db
        margin_seconds = max(margin_seconds, 0.0)
        self.requests_per_second = requests_per_second
        self.margin_seconds = margin_seconds
        self.fast_lane_share = fast_lane_share
        self.unit = grid_unit(requests_per_second, margin_seconds, token_requests_per_second)
        self.token_key = token_key if token_requests_per_second else None
        self.base_rates = dict(base_rates or {})
        for rate in self.base_rates.values():
            reserve_every(rate, fast_lane_share)  # a bad share fails here, not at the first request
        self.spacing = spacing_units(requests_per_second, margin_seconds, self.unit) * self.unit
        self.reserve_every = reserve_every(requests_per_second, fast_lane_share)
        # The bases with a fast-lane table; None (no spec known) keeps the reservation on every base. A base
        # without one lends its reserved slots only to a request arriving near them, so it would lose part of
        # its pace to a lane it never uses. Another process without this knowledge still keeps the invariant:
        # it only leaves gaps at reserved slots, and no fast request is ever made for such a base.
        self.fast_lane_bases = frozenset(fast_lane_bases) if fast_lane_bases is not None else None
        self.late_tolerance = max(5 * margin_seconds * LATE_SHARE_OF_SLACK, MIN_LATE_TOLERANCE_SECONDS)
        self.penalty_seconds = penalty_seconds
        self.missed_slots = 0  # slots given up because the sender was late (the machine was busy)
        self._lock = threading.Lock()
        self._gates: dict[str, threading.Lock] = {}
        self._known: set[str] = set()  # bucket rows this limiter has made sure exist
        self._clock_offset = 0.0  # the database's clock minus time.monotonic(), see _on_our_clock
        self._clock_latency = math.inf
        self._clock_sampled_at = -math.inf

    def spacing_of(self, base_id: str) -> float:
        """Seconds between two slots of ``base_id``."""
        return self._units_of(base_id) * self.unit

    def acquire(self, base_id: str, cancel: threading.Event | None = None, lane: str = "standard") -> float:
        """Block until this caller may send one request to ``base_id``; returns the seconds it waited.

        ``lane`` is the table's spec lane: ``fast`` requests take reserved slots a backfill cannot book;
        ``outbound`` (the pusher's) book as ``standard`` and are counted apart.
        """
        started = time.monotonic()
        self.take(base_id, cancel, lane)
        return time.monotonic() - started

    def take(
        self, base_id: str, cancel: threading.Event | None = None, lane: str = "standard", *, rebooking: bool = False
    ) -> Slot:
        """Wait for a slot of ``base_id`` (and of the token) and return it, woken on time.

        The caller sends at once, unless ``Slot.missed()`` says it stalled since: then it takes another slot with
        ``rebooking=True`` (the same request, counted once).
        """
        if lane not in COUNTED_LANES:
            raise ValueError(f"lane must be one of {', '.join(COUNTED_LANES)}, got {lane!r}")
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled before sending")
        counted: str | None = None if rebooking else lane  # the lane the request is counted in, once
        lane = booking_lane(lane)
        while True:
            deadline = self._book(base_id, counted, lane, cancel)
            counted = None  # a re-reservation is the same request
            if deadline - time.monotonic() > BLOCK_CHECK_LEAD_SECONDS:
                self._sleep_until(deadline - BLOCK_CHECK_LEAD_SECONDS, cancel)
                # A 429 elsewhere after we reserved: sending at our slot would earn another 429 (and on
                # Airtable perhaps a longer lock-out), so queue again behind the block.
                if self._blocked_for(base_id) > 0:
                    continue
            self._sleep_until(deadline, cancel)
            slot = Slot(deadline, self.late_tolerance)
            if not slot.missed():
                return slot
            self.note_missed()

    def note_missed(self) -> None:
        with self._lock:
            self.missed_slots += 1

    def throttled(self, base_id: str, lane: str = "standard") -> None:
        """Airtable answered 429 (to a ``lane`` request): block the base for every process for ``penalty_seconds``."""
        with self.db.begin() as conn:
            conn.execute(_BLOCK, {"base_id": base_id, "penalty": self.penalty_seconds, **_lane_flags(lane)})

    def server_error(self, base_id: str, lane: str = "standard") -> None:
        """Airtable answered 5xx: counted where every process's requests are (``/metrics`` reads it)."""
        with self.db.begin() as conn:
            conn.execute(_SERVER_ERROR, {"base_id": base_id, **_lane_flags(lane)})

    def state(self, base_id: str) -> BucketState | None:
        """The counters of a base's bucket, or of the token's (``base_id=limiter.token_key``)."""
        with self.db.connect() as conn:
            row = conn.execute(_COUNTERS, {"base_id": base_id}).one_or_none()
        return None if row is None else BucketState(*row)

    def _book(self, base_id: str, counted: str | None, lane: str, cancel: threading.Event | None) -> float:
        """A booked slot on the monotonic clock; a standard request waits here while its base has its share."""
        if self.token_key is None or lane == "fast":
            return self._wait_for_share(base_id, counted, lane, cancel)
        gate = self._gate(base_id)
        while not gate.acquire(timeout=GATE_POLL_SECONDS):  # one thread per process waits for the base's turn
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled while waiting for a rate-limit slot")
        try:
            return self._wait_for_share(base_id, counted, lane, cancel)
        finally:
            gate.release()

    def _wait_for_share(self, base_id: str, counted: str | None, lane: str, cancel: threading.Event | None) -> float:
        while True:
            moment, booked = self._reserve(base_id, counted, lane)
            if booked:
                return moment
            self._sleep_until(moment, cancel)  # the base's earliest booked slot passes: its turn again

    def _gate(self, base_id: str) -> threading.Lock:
        with self._lock:
            return self._gates.setdefault(base_id, threading.Lock())

    def _on_our_clock(self, db_now: float, asked_at: float, answered_at: float) -> float:
        """``db_now`` (the database's clock) as a ``time.monotonic()`` moment.

        The offset between the two clocks comes from the round trip with the smallest latency in the last
        ``CLOCK_SAMPLE_SECONDS`` (its error is at most half that latency, well under a millisecond on a good
        connection); a slow round trip only says the query waited, not where the clocks stand.
        """
        latency = answered_at - asked_at
        with self._lock:
            stale = answered_at - self._clock_sampled_at > CLOCK_SAMPLE_SECONDS
            if stale or latency <= self._clock_latency:
                self._clock_offset = db_now - (asked_at + answered_at) / 2
                self._clock_latency, self._clock_sampled_at = latency, answered_at
            return db_now - self._clock_offset

    def _ensure_buckets(self, *keys: str) -> None:
        missing = [key for key in keys if key not in self._known]
        if missing:
            with self.db.begin() as conn:
                for key in missing:
                    conn.execute(_ENSURE_BUCKET, {"key": key})
            self._known.update(missing)

    def reserve_every_for(self, base_id: str, rate: float | None = None) -> int:
        """One slot in this many of ``base_id``'s grid is kept for the fast lane (0: none)."""
        rate = self.base_rates.get(base_id, self.requests_per_second) if rate is None else rate
        if self.fast_lane_bases is not None and base_id not in self.fast_lane_bases:
            return 0
        return reserve_every(rate, self.fast_lane_share)

    def _units_of(self, base_id: str) -> int:
        rate = self.base_rates.get(base_id, self.requests_per_second)
        return spacing_units(rate, self.margin_seconds, self.unit)

    def _reserve(self, base_id: str, counted: str | None, lane: str) -> tuple[float, bool]:
        """Book the next slot of ``lane``; returns it on this process's ``time.monotonic()`` clock and ``True``.

        ``counted``: the lane the booking counts a request in (``None``: a re-booking of one already counted).

        With a token, a standard request whose base already holds its share of the token's calendar books
        nothing: it gets ``False`` and the moment its base's earliest booked slot passes, to try again then.
        """
        unit = self.unit
        rate = self.base_rates.get(base_id, self.requests_per_second)
        spacing = float(self._units_of(base_id))
        token = self.token_key or base_id
        self._ensure_buckets(base_id, token)
        with self.db.begin() as conn:
            asked_at = time.monotonic()
            rows = {row[0]: row[1:] for row in conn.execute(_LOCK_BUCKETS, {"base_id": base_id, "token_key": token})}
            answered_at = time.monotonic()
            if base_id not in rows or token not in rows:  # a row deleted since we made it (a test's truncate)
                self._known.clear()
                return answered_at, False
            next_slot, blocked_until, fast_next_slot, own, now, _ = rows[base_id]
            # Where the database's ``now`` falls on our clock, from the quickest round trip seen lately, not this
            # one: a reply that took 60 ms (a lock wait, a busy machine) would otherwise make the slot 60 ms late.
            read_at = self._on_our_clock(float(now), asked_at, answered_at)
            now_units = units_at_or_after(float(now), unit)
            held = sorted(u for u in own or () if u >= now_units)
            calendar: list[int] = []
            if self.token_key is not None:
                if lane == "standard" and len(held) >= BOOKED_AHEAD_PER_BASE:
                    return read_at + (held[0] + 1) * unit - float(now), False
                calendar = [u for u in rows[token][3] or () if u >= now_units]
            booking = book_on_calendar(
                lane,
                now=float(now_units),
                taken=frozenset(calendar),
                next_slot=_units(next_slot, unit),
                fast_next_slot=_units(fast_next_slot, unit),
                blocked_until=_units(blocked_until, unit),
                spacing=spacing,
                reserve_every=self.reserve_every_for(base_id, rate),
                lend_window=LEND_WINDOW_SLOTS * spacing,
            )
            slot = int(booking.slot)
            with_token = self.token_key is not None
            conn.execute(
                _BOOK,
                {
                    "base_id": base_id,
                    "token_key": token,
                    "next_slot": booking.next_slot * unit,
                    "fast_next_slot": booking.fast_next_slot * unit,
                    "counted": 0 if counted is None else 1,
                    "fast_counted": 1 if counted == "fast" else 0,
                    "outbound_counted": 1 if counted == "outbound" else 0,
                    "slots": [*held, slot] if with_token else [],
                    "token_slots": [*calendar, slot] if with_token else [],
                },
            )
        return read_at + slot * unit - float(now), True

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


def booking_lane(lane: str) -> str:
    """The slots a request of a counted lane books: the outbound pusher's are standard ones."""
    return "fast" if lane == "fast" else "standard"


def _lane_flags(lane: str) -> dict[str, int]:
    return {"fast": 1 if lane == "fast" else 0, "outbound": 1 if lane == "outbound" else 0}


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


def _units(value: object, unit: float) -> float | None:
    """A stored moment (epoch seconds from the database) as a whole grid unit, or ``None``."""
    return None if value is None else float(units_at_or_after(float(value), unit))  # type: ignore[arg-type]
