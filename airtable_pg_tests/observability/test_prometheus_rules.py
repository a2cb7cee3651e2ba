"""The generated rules file passes ``promtool check rules``, and ``promtool test rules`` sees each alert fire on its
condition (after its ``for``) and stay quiet without it. Debian's ``prometheus`` package provides promtool
(``scripts/ensure-prometheus.sh``, run by ``make test``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from airtable_pg import cli
from airtable_pg.observability.alerts import alert_definitions, by_name

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="no promtool: run scripts/ensure-prometheus.sh as root")

ALERTS = by_name(alert_definitions())
TABLE = {"base": "coaching", "table": "programs", "lane": "standard"}
BASE = {"base": "coaching"}
USERS = {"base": "coaching", "table": "users", "lane": "fast", "source": "webhook"}
USERS_TABLE = {"base": "coaching", "table": "users", "lane": "fast"}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def histogram(per_minute: dict[str, int], minutes: int = 30) -> list[dict[str, str]]:
    """The latency histogram's buckets, each growing by ``per_minute[le]`` changes a minute (cumulative)."""
    found = [series("airtable_pg_change_latency_seconds_bucket", {**USERS, "le": le}, f"0+{n}x{minutes}")
             for le, n in per_minute.items()]  # fmt: skip
    total = per_minute["+Inf"]
    found.append(series("airtable_pg_change_latency_seconds_count", USERS, f"0+{total}x{minutes}"))
    return found


# Per alert: input series, a time it must fire (with the labels it fires with and its value in the summary), and a
# time it must not (the condition has not held for its `for` yet, or does not hold).
CASES = {
    "TableStale": (
        [series("airtable_pg_table_freshness_age_seconds", TABLE, "100+60x10"),
         series("airtable_pg_table_freshness_bound_seconds", TABLE, "300x10")],
        ("8m", TABLE, 580.0), "5m",  # over the bound from 4m (340 s); `for: 2m` fires it at 6m
    ),
    "NotificationsWaiting": (
        [series("airtable_pg_notifications_oldest_age_seconds", BASE, "0 0 0 90 150 210 270")],
        ("5m", BASE, 210.0), "3m",
    ),
    "OutboxBacklog": (
        [series("airtable_pg_outbox_oldest_age_seconds", {"base": "coaching", "table": "goals"}, "0+120x20")],
        ("12m", {"base": "coaching", "table": "goals"}, 1440.0), "7m",
    ),
    "DeadLettersOpen": (
        [series("airtable_pg_dead_letters_open", {**BASE, "direction": "inbound"}, "0 0 2 2 0")],
        ("2m", {**BASE, "direction": "inbound"}, 2.0), "4m",  # fired at 2m, resolved when triaged at 4m
    ),
    "WebhookUnhealthy": (
        [series("airtable_pg_webhook_healthy", BASE, "1 1 0x10")],
        ("8m", BASE, 0.0), "5m",
    ),
    "WebhookExpiring": (
        [series("airtable_pg_webhook_expiry_seconds", BASE, "90000-1000x10")],
        ("5m", BASE, 85000.0), "1m",
    ),
    "BlockingCheckFailing": (
        [series("airtable_pg_check_failing", {**TABLE, "check": "reconcile", "severity": "error"}, "0 1 1"),
         series("airtable_pg_check_failing", {**TABLE, "check": "null_rate", "severity": "warn"}, "1 1 1")],
        ("2m", {**TABLE, "check": "reconcile", "severity": "error"}, 1.0), "0m",  # a warning alone is no alert
    ),
    "AlerterSilent": (
        [series("airtable_pg_alerter_last_evaluation_age_seconds", {"alerter": "alerts"}, "30 90 30 90 60+60x10")],
        ("9m", {"alerter": "alerts"}, 360.0), "3m",  # ticking: never over 300 s; stopped at 4m: over at 9m
    ),
    "FastLaneStuck": (
        [series("airtable_pg_table_missing_oldest_age_seconds", USERS_TABLE, "0 0 30 90 150 0"),
         series("airtable_pg_table_missing_oldest_age_seconds", TABLE, "600x5")],  # the standard lane: no page
        ("3m", USERS_TABLE, 90.0), "2m",  # under the 60 s SLO at 2m; resolved when the user landed at 5m
    ),
    "SensorFailing": (
        [series("airtable_pg_dagster_sensor_failing", {"sensor": "alerts"}, "0 1x10")],
        ("7m", {"sensor": "alerts"}, 1.0), "4m",  # failing from 1m; `for: 5m` fires it at 6m
    ),
    "MetricsUnreadable": (
        [series("airtable_pg_up", {}, "1 0 0 0 0")],
        ("4m", {}, 0.0), "2m",
    ),
    # 10 changes a minute, all between 20 and 30 s: p95 is about 29.5 s (over 15), p99 about 29.9 s (under 60).
    "UsersProvisioningP95Slow": (
        histogram({"10.0": 0, "15.0": 0, "20.0": 0, "30.0": 10, "60.0": 10, "+Inf": 10}),
        ("20m", {"base": "coaching", "table": "users"}, 29.5), None,
    ),
    # 10 a minute between 60 and 90 s: p99 about 89.7 s, over 60.
    "UsersProvisioningP99Slow": (
        histogram({"10.0": 0, "15.0": 0, "20.0": 0, "30.0": 0, "60.0": 0, "90.0": 10, "+Inf": 10}),
        ("20m", {"base": "coaching", "table": "users"}, 89.7), None,
    ),
}


def test_every_metric_alert_has_a_case():
    assert set(CASES) == {name for name, alert in ALERTS.items() if alert.condition is not None}


def test_promtool_accepts_the_rules_and_each_alert_fires_on_its_condition_only(tmp_path: Path, capsys):
    assert cli.main(["alerts", "rules"]) == 0
    (tmp_path / "rules.yml").write_text(capsys.readouterr().out, encoding="utf-8")
    check = subprocess.run([PROMTOOL, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = []
    for name, (inputs, (fire_at, labels, value), quiet_at) in CASES.items():
        alert = ALERTS[name]
        fired = {"exp_labels": {**labels, "severity": alert.severity},
                 "exp_annotations": {"summary": alert.summary_for(labels, value),
                                     "runbook": f"docs/operations.md#{alert.runbook or name.lower()}"}}  # fmt: skip
        checks = [{"eval_time": fire_at, "alertname": name, "exp_alerts": [fired]}]
        if quiet_at is not None:
            checks.append({"eval_time": quiet_at, "alertname": name, "exp_alerts": []})
        tests.append({"interval": "1m", "input_series": inputs, "alert_rule_test": checks})
    # Too few changes: one slow change in the window pages nobody.
    tests.append({
        "interval": "1m",
        "input_series": histogram({"10.0": 0, "15.0": 0, "20.0": 0, "30.0": 0, "60.0": 0, "+Inf": 0}) + [
            series("airtable_pg_change_latency_seconds_bucket", {**USERS, "table": "quiet", "le": le}, "0 1x30")
            for le in ("15.0", "60.0")] + [
            series("airtable_pg_change_latency_seconds_bucket", {**USERS, "table": "quiet", "le": "+Inf"}, "0 1x30"),
            series("airtable_pg_change_latency_seconds_count", {**USERS, "table": "quiet"}, "0 1x30")],
        "alert_rule_test": [{"eval_time": "10m", "alertname": n, "exp_alerts": []}
                            for n in ("UsersProvisioningP95Slow", "UsersProvisioningP99Slow")],
    })  # fmt: skip
    unit = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(unit, sort_keys=False), encoding="utf-8")
    run = subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
