"""A real Prometheus (Debian's package) scrapes a running receiver's ``/metrics``, and its query API answers with the
values the state tables hold: names, labels, types and the exposition format are what Prometheus takes."""

from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml

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
)
from airtable_pg_tests.waiting import wait_until

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus: run scripts/ensure-prometheus.sh as root")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prometheus(tmp_path: Path):
    """Start Prometheus scraping ``target`` every second; yields a function that starts it and returns its URL."""
    started: list[subprocess.Popen] = []

    def start(target: str) -> str:
        port = free_port()
        job = {"job_name": "airtable_pg", "static_configs": [{"targets": [target]}]}
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": [job]}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        log = (tmp_path / "prometheus.log").open("w")
        started.append(subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def query(url: str, expr: str) -> dict[frozenset, float]:
    try:
        answer = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    except requests.RequestException:
        return {}
    return {
        frozenset((k, v) for k, v in r["metric"].items() if k not in ("__name__", "job", "instance")): float(
            r["value"][1]
        )
        for r in answer["data"]["result"]
    }


def test_prometheus_scrapes_the_receiver_and_answers_the_state_tables_values(database_url, prometheus):
    synced(database_url, PROGRAMS.id, rows=57, ago=timedelta(minutes=10))
    apply_changes(database_url, USERS.id, "webhook", [0.4, 2.5, 12.0, 40.0])
    waiting_notification(database_url, ago=timedelta(seconds=3))
    waiting_notification(database_url, ago=timedelta(seconds=1))
    dead_letter(database_url, "outbound")
    execute(database_url, "insert into airtable_sync.rate_limit (base_id, requests, fast_requests, outbound_requests, "
            "throttled, outbound_throttled, server_errors, fast_server_errors) values (%s, 90, 25, 15, 2, 2, 3, 1)",
            (BASE.id,))  # fmt: skip
    with ReceiverServer(build_app(database_url, spec=SPEC)) as receiver:
        url = prometheus(receiver.url.removeprefix("http://"))
        up = wait_until(lambda: query(url, 'up{job="airtable_pg"} == 1'), timeout=60, what="Prometheus's first scrape")
        assert list(up.values()) == [1.0]
        rows = query(url, "airtable_pg_table_rows")
        assert rows == {frozenset({"base": BASE.key, "table": "programs", "lane": PROGRAMS.lane}.items()): 57.0}
        users = {"base": BASE.key, "table": "users", "lane": "fast", "source": "webhook"}
        count = query(url, "airtable_pg_change_latency_seconds_count")
        assert count == {frozenset(users.items()): 4.0}
        (db_count,) = execute(database_url, "select count(*) from airtable_sync.change_event where source = 'webhook'")
        assert db_count == (4,)
        within_slo = query(url, 'airtable_pg_change_latency_seconds_bucket{le="15.0"}')
        assert within_slo == {frozenset({**users, "le": "15.0"}.items()): 3.0}
        assert query(url, "airtable_pg_notifications_waiting") == {frozenset({"base": BASE.key}.items()): 2.0}
        letters = query(url, "airtable_pg_dead_letters_open")
        assert letters[frozenset({"base": BASE.key, "direction": "outbound"}.items())] == 1.0
        by_lane = {  # the rate-limit row's counters, one series per lane
            name: {dict(labels)["lane"]: v for labels, v in query(url, name).items()}
            for name in ("airtable_pg_airtable_requests_total", "airtable_pg_airtable_throttled_total",
                         "airtable_pg_airtable_server_errors_total")
        }  # fmt: skip
        assert by_lane == {
            "airtable_pg_airtable_requests_total": {"fast": 25.0, "outbound": 15.0, "standard": 50.0},
            "airtable_pg_airtable_throttled_total": {"fast": 0.0, "outbound": 2.0, "standard": 0.0},
            "airtable_pg_airtable_server_errors_total": {"fast": 1.0, "outbound": 0.0, "standard": 2.0},
        }
        # A change of state shows in the next scrapes: Prometheus reads what Postgres holds now.
        apply_changes(database_url, USERS.id, "webhook", [1.0])
        wait_until(lambda: query(url, "airtable_pg_change_latency_seconds_count") == {frozenset(users.items()): 5.0},
                   timeout=30, what="the fifth change in Prometheus")  # fmt: skip
        p95 = query(url, "histogram_quantile(0.95, sum by (le) (airtable_pg_change_latency_seconds_bucket))")
        assert 30 < next(iter(p95.values())) <= 45  # the fifth-slowest of five (40 s) falls in the (30, 45] bucket
