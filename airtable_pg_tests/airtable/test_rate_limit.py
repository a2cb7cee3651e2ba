"""The per-base rate limiter shared through Postgres: by threads and processes, against the sandbox's real limit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pyairtable import Api

from airtable_pg.airtable.client import RequestStats, make_api
from airtable_pg.airtable.rate_limit import Cancelled, RateLimiter
from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg.spec import load_spec
from airtable_pg_tests.sandbox_process import running_sandbox
from airtable_pg_tests.sync_helpers import admin, airtable_config, assert_mirror_matches, make_sync_engine
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.pytest_plugin import SandboxFactory, airtable_api_for

PROJECT = Path(__file__).resolve().parents[2]
SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
BASE = "appRateLimitTest1"

ACQUIRE_SCRIPT = """
import sys, time
import sqlalchemy as sa
from airtable_pg.airtable.rate_limit import RateLimiter
url, base, rps, count, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
limiter = RateLimiter(sa.create_engine(url), requests_per_second=rps)
time.sleep(max(0.0, start_at - time.time()))
for _ in range(count):
    limiter.acquire(base)
    print(time.time(), flush=True)
"""

SYNC_SCRIPT = """
import json, sys, time
from airtable_pg.airtable.client import AirtableConfig
from airtable_pg.spec import load_spec
from airtable_pg.sync.engine import SyncEngine
url, api_url, token, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
engine = SyncEngine(load_spec(), url, AirtableConfig(api_key=token, api_url=api_url), workers=4)
time.sleep(max(0.0, start_at - time.time()))
results = engine.sync_tables("full", [("coaching", t) for t in sys.argv[5].split(",")])
engine.close()
print(json.dumps([[r.table, r.rows_seen, r.requests, r.throttled_429] for r in results]))
"""


def most_in_any_second(moments: list[float]) -> int:
    moments = sorted(moments)
    most, first = 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def spawn(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    return out


def test_slots_are_spaced_across_processes_and_threads(database_url: str) -> None:
    rps, per_worker = 10.0, 5
    start_at = time.time() + 1.2  # both processes and both threads start together
    processes = [spawn(ACQUIRE_SCRIPT, sqlalchemy_url(database_url), BASE, rps, per_worker, start_at) for _ in "ab"]
    limiter = RateLimiter(sa.create_engine(sqlalchemy_url(database_url)), requests_per_second=rps)
    local: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        for _ in range(per_worker):
            limiter.acquire(BASE)
            with lock:
                local.append(time.time())

    threads = [threading.Thread(target=take) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    moments = local + [float(line) for p in processes for line in finish(p).split()]
    assert len(moments) == 4 * per_worker
    assert most_in_any_second(moments) <= rps
    # the four workers took turns, one bucket: 20 slots need ~19 spacings, not 5
    assert max(moments) - min(moments) >= (len(moments) - 1) * limiter.spacing * 0.9
    state = limiter.state(BASE)
    assert state is not None and state.requests == 4 * per_worker


def test_a_429_blocks_the_base_for_every_process_and_no_other_base(database_url: str) -> None:
    # Two engines, two pools: as two processes would be. Judged by the database's clock, which the block is set
    # by, so a slow machine can only make the blocked request later, never fail the test.
    engine = sa.create_engine(sqlalchemy_url(database_url))
    one = RateLimiter(engine, penalty_seconds=2.0)
    other = RateLimiter(sa.create_engine(sqlalchemy_url(database_url)), penalty_seconds=2.0)
    one.acquire(BASE)
    one.throttled(BASE)
    blocked = other.state(BASE)
    assert blocked is not None and blocked.blocked_until is not None
    # Buckets are per base: another base is served while this one is blocked. (Not at once: a limiter that knows
    # no spec holds fast-lane slots on every base, and a request within a spacing before one goes after it.)
    other.acquire("appAnotherBase001")
    assert database_now(engine) < blocked.blocked_until
    other.acquire(BASE)
    assert database_now(engine) >= blocked.blocked_until - timedelta(milliseconds=20)  # the clock offset's error
    state = other.state(BASE)
    assert state is not None and (state.requests, state.throttled) == (2, 1)


def database_now(engine: sa.Engine) -> datetime:
    with engine.connect() as connection:
        return connection.execute(sa.text("select clock_timestamp()")).scalar_one()


class DrowsyLimiter(RateLimiter):
    """Wakes 100 ms after its first slot, as a thread of a busy interpreter does."""

    naps = 0

    def _sleep_until(self, deadline: float, cancel: threading.Event | None) -> float:
        slept = super()._sleep_until(deadline, cancel)
        self.naps += 1
        if self.naps == 1:
            time.sleep(0.1)
        return slept


def test_a_sender_that_wakes_late_gives_up_its_slot(database_url: str) -> None:
    """Sending 100 ms late would crowd the requests booked after it: it takes the next free slot instead."""
    limiter = DrowsyLimiter(sa.create_engine(sqlalchemy_url(database_url)))
    started = time.monotonic()
    limiter.acquire(BASE)
    assert time.monotonic() - started >= limiter.spacing - 0.01  # the second slot, one spacing later
    state = limiter.state(BASE)
    assert state is not None and state.requests == 1  # still one request


def test_a_cancelled_wait_raises(database_url: str) -> None:
    limiter = RateLimiter(sa.create_engine(sqlalchemy_url(database_url)), penalty_seconds=30.0)
    limiter.throttled(BASE)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        limiter.acquire(BASE, cancel)
    assert time.monotonic() - started < 5


def test_concurrent_syncs_in_threads_and_processes_never_trip_airtables_limit(database_url: str) -> None:
    # Airtable counts arrivals on its own machines: the sandbox runs in a process of its own, so the two syncs in
    # this process cannot delay its count (see airtable_pg_tests.sandbox_process).
    with running_sandbox("--records", "200", "--rate-limit", "5", "--penalty-seconds", "30") as sandbox:
        sandbox.wait_for_url(timeout=60)
        start_at = time.time() + 2.0  # processes need a moment to import
        tables = [("coaching", key) for key in ("users", "personal_goals", "programs")]
        names = ",".join(key for _, key in tables)
        processes = [spawn(SYNC_SCRIPT, database_url, sandbox.url, sandbox.token, start_at, names) for _ in "ab"]
        results: list = []

        def sync() -> None:
            with make_sync_engine(sandbox, database_url, airtable={"requests_per_second": 5.0}, workers=4) as engine:
                time.sleep(max(0.0, start_at - time.time()))
                results.extend(engine.sync_tables("full", tables))

        threads = [threading.Thread(target=sync) for _ in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        remote = [json.loads(finish(p)) for p in processes]
        stats = sandbox.stats()["bases"][DEMO_BASE_ID]
        assert stats["rate_limited"] == 0 and stats["peak_per_second"] <= 5
        assert len(results) == 2 * len(tables) and all(r.throttled_429 == 0 for r in results)
        assert all(throttled == 0 for run in remote for _, _, _, throttled in run)
        assert stats["served"] == sum(r.requests for r in results) + sum(n for run in remote for _, _, n, _ in run)
        admin(sandbox, "POST", "config", json={"rate_limit_per_second": None})  # the check's reads are unthrottled
        api = Api(sandbox.token, endpoint_url=sandbox.url)
        for _, key in tables:
            assert_mirror_matches(database_url, api, COACHING, COACHING.tables[key])


def test_sync_completes_through_429s_and_5xx(sandbox_factory: SandboxFactory, database_url: str) -> None:
    # The client is set too fast for the sandbox on purpose: it must earn 429s, wait them out and finish.
    # Seeded faults: the 2nd and 3rd admitted requests of the ~20 (random.Random(42): 0.64, 0.03, 0.28 …) are 5xx.
    sandbox = sandbox_factory(
        demo_records=2000, rate_limit_per_second=5, penalty_seconds=0.2, fault_5xx_ratio=0.3, fault_seed=42
    )
    client = {"requests_per_second": 80.0, "penalty_seconds": 0.2, "max_attempts": 10}
    with make_sync_engine(sandbox, database_url, airtable=client, workers=4, range_rows=10) as engine:
        results = engine.sync_tables("full", [("coaching", "users"), ("coaching", "personal_goals")])
    assert sum(r.throttled_429 for r in results) > 0 and sum(r.retried_5xx for r in results) > 0
    stats = sandbox.stats()["bases"][DEMO_BASE_ID]
    assert stats["rate_limited"] == sum(r.throttled_429 for r in results)
    assert stats["faults_5xx"] == sum(r.retried_5xx for r in results)
    admin(sandbox, "POST", "config", json={"rate_limit_per_second": None, "fault_5xx_ratio": 0})
    api = airtable_api_for(sandbox)
    for table in (COACHING.tables["users"], COACHING.tables["personal_goals"]):
        assert_mirror_matches(database_url, api, COACHING, table)


def test_every_pyairtable_call_goes_through_the_limiter(sandbox_factory: SandboxFactory, database_url: str) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=5)
    limiter = RateLimiter(sa.create_engine(sqlalchemy_url(database_url)))
    stats = RequestStats()
    api: Api = make_api(airtable_config(sandbox, requests_per_second=5.0), limiter, stats)
    started = time.monotonic()
    for _ in range(3):
        api.table(DEMO_BASE_ID, "users").first()
    api.base(DEMO_BASE_ID).schema(force=True)  # the metadata API counts against the same base
    api.table(DEMO_BASE_ID, "users").create({"fldUsrName0000000": "Via the limiter"}, use_field_ids=True)
    assert time.monotonic() - started >= 4 * limiter.spacing * 0.9
    assert stats.requests == 5 and stats.first_server_time is not None
    state = limiter.state(DEMO_BASE_ID)
    assert state is not None and state.requests == 5
