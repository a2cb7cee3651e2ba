"""The fast lane's reserved share of a base's rate limit: never queued behind a backfill, never over 5/s."""

from __future__ import annotations

import itertools
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from airtable_pg.airtable.client import AirtableConfig, RequestStats, make_api
from airtable_pg.airtable.rate_limit import RateLimiter, Slot, book, reserve_every
from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg.spec import load_spec
from airtable_pg_tests.airtable.test_rate_limit import most_in_any_second
from airtable_pg_tests.sandbox_process import running_sandbox
from airtable_pg_tests.sync_helpers import airtable_config
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.demo import DEMO_BASE_ID

SPACING = 0.208
PERIOD = 5 * SPACING  # one reserved slot in five
BACKFILL_WORKERS = 10
FAST_REQUESTS = 8
GRID = {"spacing": SPACING, "reserve_every": 5, "lend_window": 1.5 * SPACING}


def is_reserved(slot: float) -> bool:
    return abs(slot / PERIOD - round(slot / PERIOD)) < 1e-9


def test_a_fast_request_skips_the_standard_queue_for_the_next_reserved_slot() -> None:
    now = 1000 * SPACING + 0.05  # a backfill has booked standard slots two seconds ahead
    queue_end = now + 2.0
    fast = book("fast", now=now, next_slot=queue_end, fast_next_slot=None, blocked_until=None, **GRID)
    assert fast.reserved and now < fast.slot <= now + 5 * SPACING
    assert is_reserved(fast.slot)
    again = book("fast", now=now, next_slot=queue_end, fast_next_slot=fast.fast_next_slot, blocked_until=None, **GRID)
    assert again.slot == pytest.approx(fast.slot + 5 * SPACING)  # a reserved slot is taken once
    standard = book("standard", now=now, next_slot=queue_end, fast_next_slot=None, blocked_until=None, **GRID)
    assert not standard.reserved and standard.slot >= queue_end  # the backfill waits its turn


def test_any_interleaving_of_both_lanes_keeps_every_two_slots_a_spacing_apart() -> None:
    generator = random.Random(7)
    for _ in range(200):
        now, row = 5000.0 + generator.random(), {"next_slot": None, "fast_next_slot": None}
        slots = []
        for _ in range(60):
            now += generator.choice([0.0, 0.001, 0.05, 0.2, 0.7, 2.5]) * generator.random()
            lane = generator.choice(["fast", "standard", "standard"])
            booking = book(lane, now=now, blocked_until=None, **row, **GRID)
            assert booking.slot >= now - 1e-9
            row = {"next_slot": booking.next_slot, "fast_next_slot": booking.fast_next_slot}
            slots.append(booking.slot)
        slots.sort()
        assert min(b - a for a, b in itertools.pairwise(slots)) >= SPACING - 1e-9


def test_an_unwanted_reserved_slot_goes_to_the_backfill_and_an_idle_base_serves_the_fast_lane_at_once() -> None:
    reserved_soon = 1005 * SPACING
    now = reserved_soon - 0.1
    lent = book("standard", now=now, next_slot=now + 2.0, fast_next_slot=None, blocked_until=None, **GRID)
    assert lent.reserved and lent.slot == pytest.approx(reserved_soon)
    assert lent.next_slot == now + 2.0  # the standard queue is untouched
    far = book("standard", now=reserved_soon - 1.0, next_slot=now + 2.0, fast_next_slot=None, blocked_until=None,
               **GRID)  # fmt: skip
    assert not far.reserved  # too far ahead to lend: the fast lane may still want it
    idle = book("fast", now=now, next_slot=None, fast_next_slot=None, blocked_until=None, **GRID)
    assert idle.slot - now < SPACING  # the next grid slot, whichever lane's
    blocked = book("fast", now=now, next_slot=None, fast_next_slot=None, blocked_until=now + 30, **GRID)
    assert blocked.slot >= now + 30  # a 429 stops both lanes


def test_the_share_must_leave_the_standard_lane_most_of_the_limit() -> None:
    assert reserve_every(5, 1) == 5 and reserve_every(5, 0) == 0 and reserve_every(5, 2) == 2
    with pytest.raises(ValueError, match="at least half"):
        reserve_every(5, 4)


def test_only_a_base_with_a_fast_lane_table_keeps_slots_for_that_lane(database_url: str) -> None:
    """A base whose tables are all standard gets every slot of its grid: no reserved slot waits for a fast request
    that never comes (lent only to a request arriving near it, a backfill booking ahead would skip it)."""
    spec = load_spec()  # the demo: users is a fast-lane table of its one base
    db = sa.create_engine(sqlalchemy_url(database_url))
    config = AirtableConfig(api_key="patNeverSent", requests_per_second=5)
    with_spec = config.for_spec(spec).rate_limiter(db)
    assert with_spec.reserve_every_for(DEMO_BASE_ID) == 5
    assert with_spec.reserve_every_for("appNoFastLane0001") == 0
    without_spec = config.rate_limiter(db)
    assert without_spec.reserve_every_for("appNoFastLane0001") == 5  # not known: reserve, as every process did

    queue = {"next_slot": 2000 * SPACING, "fast_next_slot": None, "blocked_until": None}
    now, slots = 1990 * SPACING, []
    for _ in range(20):  # a backfill booking two seconds ahead, on a base without a fast lane
        booking = book("standard", now=now, **queue, **{**GRID, "reserve_every": 0})
        slots.append(booking.slot)
        queue["next_slot"] = booking.next_slot
    assert [round((b - a) / SPACING, 6) for a, b in itertools.pairwise(slots)] == [1.0] * 19


def test_fast_requests_keep_flowing_while_a_backfill_saturates_the_bucket_and_no_429(database_url: str) -> None:
    # Airtable counts arrivals on its own machines: the sandbox runs in a process of its own, so the backfill's ten
    # threads in this process cannot delay its count (see airtable_pg_tests.sandbox_process).
    with running_sandbox(
        "--records", "1000", "--rate-limit", "5", "--penalty-seconds", "30", "--latency-ms", "150"
    ) as sandbox:  # fmt: skip
        sandbox.wait_for_url(timeout=60)
        config = airtable_config(sandbox, requests_per_second=5.0)
        moments: list[float] = []
        fast_slot_waits: list[float] = []  # from asking for a slot to leaving at it: what the lane decides
        lock = threading.Lock()

        class Recording(RateLimiter):
            def take(self, base_id, cancel=None, lane="standard", **kwargs) -> Slot:  # type: ignore[no-untyped-def]
                asked = time.monotonic()  # the slot a request leaves at (the adapter's only call)
                slot = super().take(base_id, cancel, lane, **kwargs)
                with lock:
                    moments.append(time.time())
                    if lane == "fast":
                        fast_slot_waits.append(time.monotonic() - asked)
                return slot

        limiter = Recording(sa.create_engine(sqlalchemy_url(database_url)))
        stop = threading.Event()
        backfill_requests = []

        def backfill_worker() -> None:  # as a full sync's workers: a page, then the next, in the standard lane
            stats = RequestStats()
            api = make_api(config, limiter, stats)
            while not stop.is_set():
                api.table(DEMO_BASE_ID, "personal_goals").first()
            backfill_requests.append(stats.requests)

        def booked_ahead() -> bool:  # the backfill's queue reaches a second beyond now
            state = limiter.state(DEMO_BASE_ID)
            return bool(state and state.next_slot and state.next_slot > datetime.now(UTC) + timedelta(seconds=1))

        workers = [threading.Thread(target=backfill_worker) for _ in range(BACKFILL_WORKERS)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        wait_until(booked_ahead, timeout=30, what="the backfill to book its queue ahead")
        api = make_api(config, limiter, RequestStats(), lane="fast")
        for _ in range(FAST_REQUESTS):
            api.table(DEMO_BASE_ID, "users").first()
        stop.set()
        for worker in workers:
            worker.join()
        seconds = time.monotonic() - started
        stats = sandbox.stats()["bases"][DEMO_BASE_ID]

    assert stats["rate_limited"] == 0 and stats["peak_per_second"] <= 5
    assert most_in_any_second(moments) <= 5
    # In the backfill's queue each would wait for a slot as long as the queue (10 workers booked ahead: ~2.5 s). In
    # its own lane: the first waits at most a reserved period plus the lend window (a backfill request that came
    # within it before the first's arrival borrowed that reserved slot, so the first takes the next one); each next
    # one asks right after the answer, long before a backfill request could borrow, so at most a period. Judged on
    # the wait for the slot: the whole request adds the answer (150 ms) and, for the first, a new connection.
    assert len(fast_slot_waits) == FAST_REQUESTS
    first, *following = fast_slot_waits
    assert first < PERIOD + GRID["lend_window"] + 0.15, [round(w, 2) for w in fast_slot_waits]
    assert max(following) < PERIOD + 0.15, [round(w, 2) for w in fast_slot_waits]
    state = limiter.state(DEMO_BASE_ID)
    assert state is not None and state.fast_requests == FAST_REQUESTS
    # The backfill kept the bucket busy: the reservation cost it little (lent reserved slots included).
    assert (sum(backfill_requests) + FAST_REQUESTS) / seconds > 4.3
