"""The fast-lane benchmark's measuring parts: users made like a person would, latency from the first change event."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg

from airtable_pg.postgres.database import libpq_url
from benchmarks.fast_lane import rate_limited, render
from benchmarks.provisioning import USERS_TABLE, Created, MirrorWatcher, Provisioning, latency_report


def test_users_come_at_a_steady_rate_without_spending_the_bases_requests_and_are_watched_into_postgres(
    sandbox_factory, database_url: str
) -> None:
    sandbox = sandbox_factory(demo_records=10, rate_limit_per_second=5)
    watcher = MirrorWatcher(database_url)
    try:
        users = Provisioning(sandbox.url, 4, 5.0, "t", watcher.await_users, token=sandbox.token).start()
        created = users.join()
        assert len(created) == 4
        # 5 a second, not at once: the four span three periods (a burst would span milliseconds). Gaps between
        # Airtable's stamps are not checked one by one: a request a loaded machine sent 70 ms late makes the next
        # gap 70 ms short (one run saw 0.13 s at load 6), and the schedule is still the steady one.
        created_times = [user.created_at for user in created]
        assert max(created_times) - min(created_times) >= 3 / 5.0 - 0.05, created_times
        assert sandbox.stats()["bases"].get("appCoachingDemo01", {}).get("served", 0) == 0  # the back-office path
        # No applier runs: the watcher must not see them until they are in the mirror.
        assert not watcher.wait_for_all(users, 0.3)
        inserted = time.time()
        with psycopg.connect(libpq_url(database_url)) as conn:
            for user in created:
                conn.execute("insert into airtable.users (airtable_id, fields) values (%s, '{}')", (user.record_id,))
        assert watcher.wait_for_all(users, 5)
    finally:
        watcher.stop()
    assert set(watcher.seen) == {user.record_id for user in created}
    assert all(inserted <= seen < inserted + 2 for seen in watcher.seen.values())


def test_latency_runs_from_airtables_created_time_to_the_users_first_change_event(database_url: str) -> None:
    created_at = datetime(2026, 1, 1, tzinfo=UTC)
    events = [("recA", 1.5, "webhook"), ("recA", 9.0, "incremental"), ("recB", 2.5, "full")]
    with psycopg.connect(libpq_url(database_url)) as conn:
        for record_id, seconds, source in events:
            conn.execute(
                "insert into airtable_sync.change_event (base_id, table_id, airtable_id, kind, source, applied_at) "
                "values ('appCoachingDemo01', %s, %s, 'created', %s, %s)",
                (USERS_TABLE, record_id, source, created_at + timedelta(seconds=seconds)),
            )
    users = [Created(record_id, created_at.timestamp()) for record_id in ("recA", "recB", "recC")]
    report = latency_report(database_url, users, {"recA": created_at.timestamp() + 1.6})
    assert report["committed"]["count"] == 2 and report["committed"]["max_s"] == 2.5
    assert report["committed"]["min_s"] == 1.5  # the first event, not the later poll's
    assert report["visible"]["count"] == 1 and abs(report["visible"]["p50_s"] - 1.6) < 1e-6
    assert report["missing"] == 1 and report["by_source"] == {"webhook": 1, "full": 1}


def test_a_run_that_met_a_429_is_no_result_and_the_table_names_every_spender() -> None:
    latency = {"count": 1, "p50_s": 1.0, "p95_s": 1.5, "p99_s": 2.0, "max_s": 2.0}
    phase = {"sandbox": {"rate_limited": 0, "peak_per_second": 5}, "load_before": {"load_1m": 1.0},
             "load_after": {"load_1m": 1.0}}  # fmt: skip
    result = {
        "records": 100_000, "latency_ms": 300, "notification_delay_ms": 1000, "rate_users_per_s": 1.5,
        "idle_rate_users_per_s": 0.5,
        "idle": {**phase, "users_created": 1, "latency": {"committed": latency, "visible": latency}},
        "backfill": {**phase, "users_created_during_sync": 1, "sync_seconds": 250.0, "records": 100_000,
                     "records_per_s": 400.0, "share_of_ceiling": 0.8, "limiter_requests": 1100,
                     "fast_lane_requests": 300,
                     "latency_during_sync": {"committed": latency, "visible": latency, "by_source": {"webhook": 1}}},
        "requests_per_hour": {**phase, "per_hour": 1800.0, "share_of_base_limit": 0.1,
                              "rows": [{"what": "sensor poll_coaching__users", "requests": 8, "every": "60 s",
                                        "per_hour": 480.0}]},
    }  # fmt: skip
    table = render(result)
    assert "| 1.00 / 1.50 / 2.00 / 2.00 s |" in table and "**80.0%** of 500/s" in table
    assert "| sensor poll_coaching__users | 8 | 60 s | 480.0 |" in table
    assert rate_limited(result) == 0
    result["backfill"]["sandbox"] = {"rate_limited": 2}
    assert rate_limited(result) == 2
