"""``airtable-pg metrics``: serves ``GET /metrics`` in the foreground (no receiver), stops cleanly on SIGTERM; the
receiver serves the same route."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from airtable_pg_tests.observability.state_seed import BASE, PROGRAMS, synced


def test_metrics_serves_the_state_until_stopped_and_exits_0(database_url: str, tmp_path: Path) -> None:
    synced(database_url, PROGRAMS.id, rows=31, ago=timedelta(minutes=1))
    env = {**os.environ, "DATABASE_URL": database_url, "AIRTABLE_PG_HOME": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "airtable_pg", "metrics", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("serving metrics at http://127.0.0.1:") and first.endswith("/metrics"), first
        url = first.rsplit(" ", 1)[1]
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        rows = {
            s.labels["table"]: s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
            if s.name == "airtable_pg_table_rows"
        }
        assert rows == {"programs": 31.0} and BASE.key in answer.text
        assert requests.post(url.replace("/metrics", "/airtable/webhook"), timeout=10).status_code == 404  # no receiver
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "airtable-pg metrics: stopped" in err
