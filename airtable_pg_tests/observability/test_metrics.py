"""``GET /metrics``: the figures Prometheus reads are the state schema's, read at scrape time, at a fixed cost."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from airtable_pg.observability.metrics import LATENCY_BUCKETS, scrape
from airtable_pg.postgres.database import connection_pool
from airtable_pg.receiver.app import build_app
from airtable_pg.receiver.server import ReceiverServer
from airtable_pg_tests.observability.state_seed import (
    BASE,
    PROGRAMS,
    SPEC,
    USERS,
    apply_changes,
    dead_letter,
    execute,
    synced,
    waiting_notification,
    webhook,
)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


@pytest.fixture
def served(database_url: str):
    with ReceiverServer(build_app(database_url, spec=SPEC)) as server:
        yield server.url + "/metrics"


def test_the_histogram_counts_live_changes_into_the_slo_buckets_and_leaves_full_syncs_out(database_url, served):
    apply_changes(database_url, USERS.id, "webhook", [0.2, 2.0, 14.0, 16.0, 70.0])
    apply_changes(database_url, USERS.id, "webhook", [3.0])  # a second batch adds to the same counters
    apply_changes(database_url, USERS.id, "poll", [40.0])
    apply_changes(database_url, USERS.id, "full", [5000.0] * 3)  # a backfill of old records: not live latency
    found = samples(requests.get(served, timeout=10).text)
    webhook = {"base": BASE.key, "table": "users", "lane": "fast", "source": "webhook"}
    bucket = "airtable_pg_change_latency_seconds_bucket"
    assert value(found, bucket, **webhook, le="0.5") == 1
    assert value(found, bucket, **webhook, le="3.0") == 3  # 0.2, 2, 3: the bound is inclusive, as Prometheus's le
    assert value(found, bucket, **webhook, le="15.0") == 4
    assert value(found, bucket, **webhook, le="60.0") == 5
    assert value(found, bucket, **webhook, le="+Inf") == 6
    assert value(found, "airtable_pg_change_latency_seconds_count", **webhook) == 6
    assert value(found, "airtable_pg_change_latency_seconds_sum", **webhook) == pytest.approx(105.2, abs=0.01)
    poll = {**webhook, "source": "poll"}
    assert value(found, "airtable_pg_change_latency_seconds_count", **poll) == 1
    assert not any(dict(labels).get("source") == "full" for _, labels in found)
    bounds = {dict(labels)["le"] for name, labels in found if name == bucket and dict(labels)["source"] == "webhook"}
    assert bounds == {repr(float(b)) for b in LATENCY_BUCKETS} | {"+Inf"}  # the trigger's bounds are the code's


def test_queues_dead_letters_webhook_and_freshness_are_the_state_tables(database_url, served):
    synced(database_url, PROGRAMS.id, rows=42, ago=timedelta(minutes=30))
    waiting_notification(database_url, ago=timedelta(seconds=90))
    waiting_notification(database_url, ago=timedelta(seconds=5))
    dead_letter(database_url, "inbound")
    dead_letter(database_url, "inbound", status="discarded")
    dead_letter(database_url, "outbound")
    webhook(database_url, expires_in=timedelta(hours=5), error="notifications disabled")
    execute(database_url, "insert into airtable_sync.rate_limit (base_id, requests, fast_requests, throttled) "
            "values (%s, 100, 30, 2)", (BASE.id,))  # fmt: skip
    execute(database_url, "insert into airtable_sync.check_result (base_id, table_id, check_name, passed, severity, "
            "reason) values (%s, %s, 'reconcile', false, 'error', 'x')", (BASE.id, PROGRAMS.id))  # fmt: skip
    found = samples(requests.get(served, timeout=10).text)
    programs = {"base": BASE.key, "table": "programs", "lane": PROGRAMS.lane}
    assert value(found, "airtable_pg_table_rows", **programs) == 42
    assert value(found, "airtable_pg_table_freshness_age_seconds", **programs) == pytest.approx(1800, abs=30)
    assert value(found, "airtable_pg_table_last_full_sync_age_seconds", **programs) == pytest.approx(1800, abs=30)
    assert value(found, "airtable_pg_table_freshness_bound_seconds", **programs) == PROGRAMS.freshness_bound_seconds
    never = {"base": BASE.key, "table": "users", "lane": "fast"}
    assert ("airtable_pg_table_freshness_age_seconds", frozenset(never.items())) not in found  # never synced
    assert value(found, "airtable_pg_notifications_waiting", base=BASE.key) == 2
    assert value(found, "airtable_pg_notifications_oldest_age_seconds", base=BASE.key) == pytest.approx(90, abs=30)
    assert value(found, "airtable_pg_dead_letters_open", base=BASE.key, direction="inbound") == 1
    assert value(found, "airtable_pg_dead_letters_open", base=BASE.key, direction="outbound") == 1
    assert value(found, "airtable_pg_dead_letters_created_total", base=BASE.key, direction="inbound") == 2
    assert value(found, "airtable_pg_webhook_healthy", base=BASE.key) == 0
    assert value(found, "airtable_pg_webhook_expiry_seconds", base=BASE.key) == pytest.approx(5 * 3600, abs=30)
    assert value(found, "airtable_pg_airtable_requests_total", base=BASE.key, lane="fast") == 30
    assert value(found, "airtable_pg_airtable_requests_total", base=BASE.key, lane="standard") == 70
    assert value(found, "airtable_pg_airtable_throttled_total", base=BASE.key, lane="standard") == 2
    check = {"base": BASE.key, "table": "programs", "check": "reconcile", "severity": "error"}
    assert value(found, "airtable_pg_check_failing", **check) == 1
    assert value(found, "airtable_pg_up") == 1
    record_id = re.compile(r"rec[A-Za-z0-9]{14}")
    assert not any(record_id.search(v) for _, labels in found for _, v in labels)  # never a record id as a label


def test_a_scrape_costs_the_same_queries_however_much_state_there_is(database_url):
    db = connection_pool(database_url)
    empty = scrape(db, SPEC)
    apply_changes(database_url, USERS.id, "webhook", [1.0] * 2000)
    for _ in range(20):
        dead_letter(database_url)
    full = scrape(db, SPEC)
    assert empty.ok and full.ok
    assert empty.queries == full.queries <= 12


def test_an_unreadable_database_is_up_0_and_no_figures(new_database):
    url = new_database("unmigrated")  # no state schema: every query fails
    result = scrape(connection_pool(url), SPEC)
    names = {family.name for family in result.families}
    assert not result.ok
    assert names == {"airtable_pg_up", "airtable_pg_scrape_duration_seconds", "airtable_pg_scrape_queries"}
    up = next(f for f in result.families if f.name == "airtable_pg_up")
    assert up.samples[0].value == 0


def test_airtable_5xx_answers_are_counted_per_base_as_the_sandbox_served_them(sandbox_factory, database_url):
    from airtable_pg_tests.sync_helpers import make_sync_engine

    sandbox = sandbox_factory(demo_records=200, fault_5xx_ratio=0.3, fault_seed=7, token_rate_limit_per_second=None)
    with make_sync_engine(sandbox, database_url, workers=2, airtable={"max_attempts": 50}) as engine:
        engine.sync_tables("full")
    served = sandbox.stats()["bases"][BASE.id]
    found = samples(generate_latest_text(database_url))
    assert served["faults_5xx"] >= 1
    server_errors = sum(value(found, "airtable_pg_airtable_server_errors_total", base=BASE.key, lane=lane)
                        for lane in ("fast", "standard", "outbound"))  # fmt: skip
    assert server_errors == served["faults_5xx"]
    assert value(found, "airtable_pg_airtable_server_errors_total", base=BASE.key, lane="outbound") == 0
    requests_total = sum(value(found, "airtable_pg_airtable_requests_total", base=BASE.key, lane=lane)
                         for lane in ("fast", "standard"))  # fmt: skip
    assert requests_total == served["requests"]


def generate_latest_text(database_url: str) -> str:
    from prometheus_client import generate_latest

    from airtable_pg.observability.metrics import state_registry

    return generate_latest(state_registry(connection_pool(database_url), SPEC)).decode()


def test_requests_429s_and_5xx_are_counted_by_lane_fast_standard_and_outbound(database_url, served):
    execute(database_url, "insert into airtable_sync.rate_limit (base_id, requests, fast_requests, outbound_requests, "
            "throttled, fast_throttled, outbound_throttled, server_errors, fast_server_errors, outbound_server_errors) "
            "values (%s, 100, 30, 20, 6, 1, 3, 10, 4, 5)", (BASE.id,))  # fmt: skip
    found = samples(requests.get(served, timeout=10).text)
    for name, per_lane in (
        ("airtable_pg_airtable_requests_total", {"fast": 30, "outbound": 20, "standard": 50}),
        ("airtable_pg_airtable_throttled_total", {"fast": 1, "outbound": 3, "standard": 2}),
        ("airtable_pg_airtable_server_errors_total", {"fast": 4, "outbound": 5, "standard": 1}),
    ):
        for lane, expected in per_lane.items():
            assert value(found, name, base=BASE.key, lane=lane) == expected, (name, lane)


def test_the_outbound_pushers_requests_book_standard_slots_and_are_counted_as_outbound(database_url):
    from airtable_pg.airtable.rate_limit import RateLimiter

    limiter = RateLimiter(connection_pool(database_url), requests_per_second=50, token_requests_per_second=None)
    for lane in ("outbound", "outbound", "fast", "standard"):
        limiter.acquire(BASE.id, lane=lane)
    limiter.throttled(BASE.id, "outbound")
    limiter.server_error(BASE.id, "fast")
    state = limiter.state(BASE.id)
    assert (state.requests, state.fast_requests, state.outbound_requests) == (4, 1, 2)
    assert (state.throttled, state.outbound_throttled, state.fast_throttled) == (1, 1, 0)
    assert (state.fast_server_errors, state.outbound_server_errors) == (1, 0)


def test_tombstones_cell_errors_the_stuck_lane_the_archive_and_dagster_are_the_state_tables(database_url, served):
    synced(database_url, USERS.id, rows=400, ago=timedelta(minutes=1))
    execute(database_url, "update airtable_sync.table_state set mirror_table = %s, tombstones = 7, cell_errors = 3, "
            "probe_checked_at = now() - interval '20 seconds', probe_missing = 2, "
            "probe_missing_record_id = 'recStuck000000001', probe_missing_created_at = now() - interval '95 seconds' "
            "where table_id = %s", (USERS.mirror, USERS.id))  # fmt: skip
    execute(database_url, "insert into airtable_sync.attachment (base_id, attachment_id, table_id, record_id, "
            "field_id, filename, status, first_seen_at, tombstoned_at) values "
            "(%(b)s, 'att1', 't', 'r', 'f', 'a.png', 'pending', now() - interval '300 seconds', null), "
            "(%(b)s, 'att2', 't', 'r', 'f', 'b.png', 'pending', now() - interval '10 seconds', null), "
            "(%(b)s, 'att3', 't', 'r', 'f', 'c.png', 'failed', now(), null), "
            "(%(b)s, 'att4', 't', 'r', 'f', 'd.png', 'archived', now(), null), "
            "(%(b)s, 'att5', 't', 'r', 'f', 'e.png', 'pending', now() - interval '999 seconds', now())",
            {"b": BASE.id})  # fmt: skip
    execute(database_url, "insert into airtable_sync.dagster_run_failure (run_id, job_name) values "
            "('run1', 'full_sync_all'), ('run2', 'full_sync_all'), ('run3', 'archive_purge')")  # fmt: skip
    execute(database_url, "insert into airtable_sync.dagster_sensor_tick (sensor, failed_ticks, failing) values "
            "('alerts', 3, true), ('poll_coaching__users', 1, false)")  # fmt: skip
    found = samples(requests.get(served, timeout=10).text)
    users = {"base": BASE.key, "table": "users", "lane": "fast"}
    assert value(found, "airtable_pg_table_tombstones", **users) == 7
    assert value(found, "airtable_pg_table_cell_errors", **users) == 3
    assert value(found, "airtable_pg_table_missing_records", **users) == 2
    assert value(found, "airtable_pg_table_missing_oldest_age_seconds", **users) == pytest.approx(95, abs=10)
    assert value(found, "airtable_pg_table_probe_age_seconds", **users) == pytest.approx(20, abs=10)
    assert value(found, "airtable_pg_archive_backlog", base=BASE.key) == 2  # tombstoned and archived left out
    assert value(found, "airtable_pg_archive_failed", base=BASE.key) == 1
    assert value(found, "airtable_pg_archive_backlog_oldest_age_seconds", base=BASE.key) == pytest.approx(300, abs=10)
    assert value(found, "airtable_pg_dagster_runs_failed_total", job="full_sync_all") == 2
    assert value(found, "airtable_pg_dagster_sensor_ticks_failed_total", sensor="alerts") == 3
    assert value(found, "airtable_pg_dagster_sensor_failing", sensor="alerts") == 1
    assert value(found, "airtable_pg_dagster_sensor_failing", sensor="poll_coaching__users") == 0

    # The stuck user lands in the mirror: the next scrape sees it there, whatever the last probe recorded.
    execute(database_url, "insert into airtable.users (airtable_id, fields) values ('recStuck000000001', '{}')")
    found = samples(requests.get(served, timeout=10).text)
    assert value(found, "airtable_pg_table_missing_oldest_age_seconds", **users) == 0


def test_a_probed_table_whose_mirror_is_gone_keeps_the_scrape_up_and_the_probes_figure(database_url):
    synced(database_url, USERS.id, rows=1, ago=timedelta(minutes=1))
    execute(database_url, "update airtable_sync.table_state set mirror_table = 'dropped by a spec change', "
            "probe_checked_at = now(), probe_missing = 1, probe_missing_record_id = 'recGone0000000001', "
            "probe_missing_created_at = now() - interval '200 seconds' where table_id = %s", (USERS.id,))  # fmt: skip
    result = scrape(connection_pool(database_url), SPEC)
    assert result.ok
    (age,) = [s.value for f in result.families if f.name == "airtable_pg_table_missing_oldest_age_seconds"
              for s in f.samples if s.labels["table"] == "users"]  # fmt: skip
    assert age == pytest.approx(200, abs=10)  # as the probe saw it: still missing, as far as anyone can tell
