"""The per-token bucket: bases sharing one token, across processes, against the sandbox's real per-token limit;
and the send-time guarantee with a sender stalled between its slot and its send."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from airtable_pg.airtable.client import AirtableConfig, RequestStats, make_api
from airtable_pg.airtable.rate_limit import RateLimiter, Slot, book_on_calendar
from airtable_pg.airtable.slot_grid import grid_unit, spacing_units, token_key
from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg_tests.sandbox_process import running_sandbox
from airtable_sandbox import demo
from airtable_sandbox.pytest_plugin import SandboxFactory

PROJECT = Path(__file__).resolve().parents[2]
BASES = tuple(demo.demo_base_id(n) for n in (1, 2, 3))  # the sandbox's --bases 3

# One process per base, each with its own number of threads: the fair share must not depend on it. No fast-lane
# reservation: the subject is the token (the reservation costs a share of it, see README).
SHARE_SCRIPT = """
import json, sys, threading, time
import requests
import sqlalchemy as sa
from airtable_pg.airtable.client import AirtableConfig, RequestStats, make_api
url, api_url, token, base, threads, seconds = sys.argv[1:7]
config = AirtableConfig(api_key=token, api_url=api_url, token_requests_per_second=10.0, fast_lane_share=0.0)
limiter = config.rate_limiter(sa.create_engine(url))
moments, lock, until = [], threading.Lock(), time.time() + float(seconds)  # from when its imports are done

def work():
    table = make_api(config, limiter, RequestStats()).table(base, "users")
    while time.time() < until:
        table.first()
        with lock:
            moments.append(time.time())

workers = [threading.Thread(target=work) for _ in range(int(threads))]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(json.dumps(moments))
"""


def test_the_token_key_is_a_fingerprint() -> None:
    key = token_key("patSecret.0123456789")
    assert key.startswith("token:") and "patSecret" not in key and "0123456789" not in key
    assert key == token_key("patSecret.0123456789") != token_key("patSecret.0123456789x")


def test_the_grid_keeps_both_limits() -> None:
    unit = grid_unit(5.0, 0.008, 50.0)
    assert unit >= 1 / 50 and spacing_units(5.0, 0.008, unit) == 10  # 10 units = 208 ms, as before
    assert spacing_units(4.0, 0.008, unit) * unit >= 1 / 4 + 0.008  # a lower share is never paced faster


def test_bookings_of_many_bases_on_one_calendar_never_share_a_unit_nor_crowd_a_base() -> None:
    rng = random.Random(7)
    grid = {"spacing": 10.0, "reserve_every": 5, "lend_window": 15.0}
    rows = {base: {"next_slot": None, "fast_next_slot": None, "blocked_until": None} for base in "abcde"}
    taken: set[int] = set()
    by_base: dict[str, list[int]] = {base: [] for base in rows}
    now = 1000.0
    for _ in range(2000):
        now += rng.choice((0.0, 0.0, 1.0, 3.0))
        base, lane = rng.choice("abcde"), rng.choice(("standard", "standard", "fast"))
        booking = book_on_calendar(lane, now=now, taken=frozenset(taken), **rows[base], **grid)
        slot = int(booking.slot)
        assert slot >= now and slot not in taken
        taken.add(slot)
        by_base[base].append(slot)
        rows[base].update(next_slot=booking.next_slot, fast_next_slot=booking.fast_next_slot)
    for slots in by_base.values():
        ordered = sorted(slots)
        assert all(b - a >= grid["spacing"] for a, b in itertools.pairwise(ordered))


def test_bases_sharing_a_token_stay_under_its_limit_and_take_equal_turns(database_url: str) -> None:
    """Three bases at 5 requests/s each would be 14.4/s: a token allowed 10/s binds, and no base starves even
    though one process runs 6 threads and another one. How full the token's calendar is kept is a throughput
    figure, measured by benchmarks/token_slots.py and benchmarks/many_bases.py, not here: a starved process on a
    loaded machine cannot take its turns, and that is no fault of the limiter."""
    # Airtable counts arrivals on its own machines: the sandbox runs in a process of its own (see sandbox_process).
    with running_sandbox(
        "--records", "20", "--bases", str(len(BASES)), "--rate-limit", "5", "--token-rate-limit", "10",
        "--penalty-seconds", "30",
    ) as sandbox:  # fmt: skip
        sandbox.wait_for_url(timeout=60)
        moments = share_the_token(sandbox.url, sandbox.token, database_url)
        stats = sandbox.stats()
    assert stats["token"]["rate_limited"] == 0 and stats["token"]["peak_per_second"] <= 10
    # Count each base's answers while all three were busy (their imports end at different moments on a busy
    # machine): from a second after the last one started to half a second before the first one stopped.
    window = (max(m[0] for m in moments) + 1.0, min(m[-1] for m in moments) - 0.5)
    assert window[1] - window[0] >= 3.0, "the three processes hardly overlapped"
    counts = [sum(window[0] <= m < window[1] for m in base_moments) for base_moments in moments]
    # No base starves: the 1-thread base gets at least half an equal share beside the 6-thread one. (Without the
    # token's turns, a base with more threads would book more of the token's slots.)
    equal_share = sum(counts) / len(counts)
    assert sum(counts) >= 10 and min(counts) >= 0.5 * equal_share, counts
    key = token_key(sandbox.token)
    assert sandbox.token.split(".")[0] not in key
    with sa.create_engine(sqlalchemy_url(database_url)).connect() as conn:
        stored = conn.execute(sa.text("select base_id from airtable_sync.rate_limit")).scalars().all()
    assert key in stored and not any(sandbox.token in row for row in stored)


def share_the_token(api_url: str, token: str, database_url: str) -> list[list[float]]:
    """Each base's process (6, 1 and 2 threads) requesting for 12 s; the moments of their answers."""
    argv = [sys.executable, "-c", SHARE_SCRIPT, sqlalchemy_url(database_url), api_url, token]
    processes = [
        subprocess.Popen([*argv, base, str(threads), "12"], cwd=PROJECT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for base, threads in zip(BASES, (6, 1, 2), strict=True)
    ]  # fmt: skip
    moments = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        moments.append(json.loads(out))
    return moments


class StalledLimiter(RateLimiter):
    """Every third slot, the sender stalls 400 ms after waking, before its request leaves: a starved process."""

    takes = 0

    def take(self, *args, **kwargs) -> Slot:  # type: ignore[no-untyped-def]
        slot = super().take(*args, **kwargs)
        self.takes += 1
        if self.takes % 3 == 0:
            threading.Event().wait(0.4)  # the stall itself is the test's subject: nothing to wait for
        return slot


def test_a_sender_stalled_after_its_slot_books_again_instead_of_crowding_the_next_ones(
    sandbox_factory: SandboxFactory, database_url: str
) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=5, penalty_seconds=30)
    engine = sa.create_engine(sqlalchemy_url(database_url))
    config = AirtableConfig(api_key=sandbox.token, api_url=sandbox.url)
    stalled = StalledLimiter(engine, token_key=token_key(sandbox.token))
    steady = config.rate_limiter(engine)

    def send(limiter: RateLimiter, count: int) -> None:
        table = make_api(config, limiter, RequestStats()).table(demo.DEMO_BASE_ID, "users")
        for _ in range(count):
            table.first()

    threads = [threading.Thread(target=send, args=(limiter, 9)) for limiter in (stalled, steady, steady)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    base = sandbox.stats()["bases"][demo.DEMO_BASE_ID]
    assert stalled.missed_slots >= 3  # it did stall past its slots, and took others
    assert base["rate_limited"] == 0 and base["served"] == 27 and base["peak_per_second"] <= 5
