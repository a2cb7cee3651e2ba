"""``airtable-pg status [--json]`` shows the new figures from the same state as ``/metrics``; ``alerts silence``,
``unsilence`` and ``list`` act on the alerter's tables."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airtable_pg import cli
from airtable_pg_tests.observability.state_seed import (
    BASE,
    PROGRAMS,
    USERS,
    apply_changes,
    dead_letter,
    execute,
    synced,
    waiting_notification,
    webhook,
)


@pytest.fixture
def env(database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    return database_url


def test_status_json_carries_freshness_queues_webhook_and_firing_incidents(env, capsys):
    synced(env, PROGRAMS.id, rows=20, ago=timedelta(minutes=2))
    apply_changes(env, USERS.id, "webhook", [1.0, 2.0, 3.0])
    waiting_notification(env, ago=timedelta(seconds=5))
    webhook(env, expires_in=timedelta(hours=30), error="disabled by Airtable")
    dead_letter(env, "outbound")
    execute(env, "insert into airtable_sync.alert_incident (alert, scope, state, summary) "
            "values ('DeadLettersOpen', 'base=coaching,direction=outbound', 'firing', 'one waits')")  # fmt: skip
    assert cli.main(["status", "--json"]) == 1  # an open dead letter: not healthy
    figures = json.loads(capsys.readouterr().out)
    tables = {t["table"]: t for t in figures["tables"]}
    programs, users = tables[f"{BASE.key}.programs"], tables[f"{BASE.key}.users"]
    assert programs["rows"] == 20 and 110 <= programs["freshness_age_seconds"] <= 180
    assert programs["freshness_bound_seconds"] == PROGRAMS.freshness_bound_seconds
    assert users["live_changes"] == 3 and users["p50_seconds"] == pytest.approx(2.0, abs=0.01)
    assert users["freshness_age_seconds"] <= 60  # its changes were just applied
    (base,) = figures["bases"]
    assert base["notifications_waiting"] == 1 and not base["stuck"]
    assert base["dead_letters_open"] == {"inbound": 0, "outbound": 1}
    assert base["webhook"]["healthy"] is False and 29 * 3600 <= base["webhook"]["expires_in_seconds"] <= 30 * 3600
    assert [i["alert"] for i in figures["incidents_firing"]] == ["DeadLettersOpen"]
    assert base["airtable_by_lane"] == {} and base["archive"] is None  # no request made, nothing to archive yet
    assert figures["dagster"] == {"runs_failed": {}, "sensors": {}}
    assert cli.main(["status"]) == 1
    out = capsys.readouterr().out
    assert f"{BASE.key}.programs" in out and "(UNHEALTHY), expires in 30.0 h" in out
    assert "FIRING DeadLettersOpen since" in out and "one waits" in out


def test_a_silence_is_listed_and_ended(env, capsys):
    assert cli.main(["alerts", "silence", "TableStale", "--for", "2h", "--reason", "migrating"]) == 0
    assert "TableStale: silenced until" in capsys.readouterr().out
    assert cli.main(["alerts", "list"]) == 0
    out = capsys.readouterr().out
    assert "(no open incidents)" in out and "silenced: TableStale until" in out
    assert cli.main(["alerts", "unsilence", "TableStale"]) == 0
    assert cli.main(["alerts", "list"]) == 0
    assert "silenced:" not in capsys.readouterr().out


def test_silencing_an_unknown_alert_or_a_bad_duration_is_a_usage_error(env, capsys):
    assert cli.main(["alerts", "silence", "NoSuchAlert", "--for", "2h"]) == 2
    assert "no alert named 'NoSuchAlert'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:  # argparse's own usage error, as every command's
        cli.main(["alerts", "silence", "TableStale", "--for", "soon"])
    assert bad.value.code == 2 and "not a duration such as 30m" in capsys.readouterr().err


def test_status_json_carries_the_lanes_the_tables_counts_the_archive_and_dagster(env, capsys):
    synced(env, USERS.id, rows=400, ago=timedelta(minutes=1))
    execute(env, "update airtable_sync.table_state set tombstones = 4, cell_errors = 9, probe_checked_at = now(), "
            "probe_missing = 0 where table_id = %s", (USERS.id,))  # fmt: skip
    execute(env, "insert into airtable_sync.rate_limit (base_id, requests, fast_requests, outbound_requests, "
            "throttled, outbound_throttled) values (%s, 50, 10, 5, 1, 1)", (BASE.id,))  # fmt: skip
    execute(env, "insert into airtable_sync.attachment (base_id, attachment_id, table_id, record_id, field_id, "
            "filename, status) values (%s, 'att1', 't', 'r', 'f', 'a.png', 'failed')", (BASE.id,))  # fmt: skip
    execute(env, "insert into airtable_sync.dagster_run_failure (run_id, job_name) values ('r1', 'full_sync_all')")
    execute(env, "insert into airtable_sync.dagster_sensor_tick (sensor, failed_ticks, failing) values ('alerts', 2, "
            "true)")  # fmt: skip
    cli.main(["status", "--json"])
    figures = json.loads(capsys.readouterr().out)
    users = {t["table"]: t for t in figures["tables"]}[f"{BASE.key}.users"]
    assert (users["tombstones"], users["cell_errors"], users["missing_records_at_last_probe"]) == (4, 9, 0)
    assert users["missing_oldest_age_seconds"] == 0
    (base,) = figures["bases"]
    assert base["airtable_by_lane"] == {
        "fast": {"requests": 10, "throttled_429": 0, "server_errors_5xx": 0},
        "standard": {"requests": 35, "throttled_429": 0, "server_errors_5xx": 0},
        "outbound": {"requests": 5, "throttled_429": 1, "server_errors_5xx": 0},
    }
    assert base["archive"] == {"backlog": 0, "failed": 1, "oldest_waiting_seconds": None}
    assert figures["dagster"] == {
        "runs_failed": {"full_sync_all": 1},
        "sensors": {"alerts": {"failed_ticks": 2, "failing": True}},
    }
