"""Every alert condition, defined once: rendered as a Prometheus rule (``airtable-pg alerts rules``) and evaluated by
the built-in alerter (``observability.alerter``, a Dagster sensor) against the same metrics ``/metrics`` serves.

A :class:`Threshold` compares one metric's samples with a number or with another metric of the same labels; in
PromQL that is ``a > b`` (one-to-one on every label), in the alerter the same comparison over the scrape's samples.
A :class:`LatencyQuantile` is the provisioning SLO: in PromQL ``histogram_quantile`` over the histogram's increase in
the window, in the alerter the exact percentile of the changes applied in the window (``change_event``); both ignore
a window with fewer than ``min_changes`` changes, so one slow sign-up on a quiet night pages nobody.
``RunFailed`` has no metric: the run-failure sensor opens it (``defs.alerts``); it is not in the rules file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from prometheus_client.core import Metric

from airtable_pg.settings import Settings

Labels = dict[str, str]
RUN_FAILED = "RunFailed"
CHANGE_LATENCY = "airtable_pg_change_latency_seconds"


@dataclass(frozen=True)
class Breach:
    """One scope (its labels: base, table, direction…) where a condition holds, and the value that broke it."""

    labels: Labels
    value: float


class Samples:
    """A scrape's samples by name, for evaluating conditions the way Prometheus would over the same scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self._by_name: dict[str, list[tuple[Labels, float]]] = {}
        for family in families:
            for sample in family.samples:
                self._by_name.setdefault(sample.name, []).append((dict(sample.labels), sample.value))

    def of(self, name: str) -> list[tuple[Labels, float]]:
        return self._by_name.get(name, [])

    def value(self, name: str, labels: Labels) -> float | None:
        return next((v for found, v in self.of(name) if found == labels), None)


# The windowed percentile the alerter reads from Postgres: (lane, quantile, window) → (labels, value, changes).
QuantileSource = Callable[[str, float, timedelta], list[tuple[Labels, float, int]]]


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: Literal[">", "<"]
    threshold: float | str  # a number, or the name of a metric with the same labels
    match: tuple[tuple[str, str], ...] = ()  # only the samples with these labels

    def promql(self) -> str:
        selector = self.metric
        if self.match:
            selector += "{" + ", ".join(f'{k}="{v}"' for k, v in self.match) + "}"
        right = self.threshold if isinstance(self.threshold, str) else f"{self.threshold:g}"
        return f"{selector} {self.op} {right}"

    def breaches(self, samples: Samples, quantiles: QuantileSource) -> list[Breach]:
        found = []
        for labels, value in samples.of(self.metric):
            if any(labels.get(k) != v for k, v in self.match):
                continue
            limit = samples.value(self.threshold, labels) if isinstance(self.threshold, str) else self.threshold
            if limit is not None and (value > limit if self.op == ">" else value < limit):
                found.append(Breach(labels, value))
        return found


@dataclass(frozen=True)
class LatencyQuantile:
    quantile: float
    seconds: float
    window_minutes: int
    min_changes: int
    lane: str = "fast"

    def promql(self) -> str:
        window, lane = f"{self.window_minutes}m", f'lane="{self.lane}"'
        return (
            f"histogram_quantile({self.quantile:g}, sum by (base, table, le) "
            f"(increase({CHANGE_LATENCY}_bucket{{{lane}}}[{window}]))) > {self.seconds:g} "
            f"and on (base, table) sum by (base, table) "
            f"(increase({CHANGE_LATENCY}_count{{{lane}}}[{window}])) >= {self.min_changes}"
        )

    def breaches(self, samples: Samples, quantiles: QuantileSource) -> list[Breach]:
        window = timedelta(minutes=self.window_minutes)
        return [
            Breach(labels, value)
            for labels, value, changes in quantiles(self.lane, self.quantile, window)
            if changes >= self.min_changes and value > self.seconds
        ]


Condition = Threshold | LatencyQuantile


@dataclass(frozen=True)
class Alert:
    name: str
    condition: Condition | None  # None: raised by a Dagster event (RunFailed), not by a metric
    severity: Literal["page", "ticket"]
    summary: str  # {label} and {value} placeholders: str.format for the alerter, Go templates for Prometheus
    for_seconds: int = 0  # the condition must hold this long before the incident fires
    runbook: str = ""  # the anchor of its section in docs/operations.md

    def summary_for(self, labels: Labels, value: float | None) -> str:
        return self.summary.format_map(_Blank({**labels, "value": "-" if value is None else humanize(value)}))

    def prometheus_rule(self) -> dict | None:
        if self.condition is None:
            return None
        rule: dict = {"alert": self.name, "expr": self.condition.promql()}
        if self.for_seconds:
            rule["for"] = _duration(self.for_seconds)
        rule["labels"] = {"severity": self.severity}
        summary = re.sub(r"\{value\}", "{{ $value | humanize }}", self.summary)
        summary = re.sub(r"\{(\w+)\}", r"{{ $labels.\1 }}", summary)
        rule["annotations"] = {"summary": summary, "runbook": f"docs/operations.md#{self.runbook or self.name.lower()}"}
        return rule


def humanize(value: float) -> str:
    """Prometheus's ``humanize`` template function (SI prefixes, 4 significant digits), so a message of the
    built-in alerter reads exactly as Alertmanager's would for the same value."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{value:.4g}"
    prefixes, scale = (("k", "M", "G", "T", "P", "E", "Z", "Y"), 1 / 1000) if abs(value) >= 1 else (
        ("m", "u", "n", "p", "f", "a", "z", "y"), 1000)  # fmt: skip
    prefix = ""
    for candidate in prefixes:
        if (abs(value) < 1000) if scale < 1 else (abs(value) >= 1):
            break
        prefix, value = candidate, value * scale
    return f"{value:.4g}{prefix}"


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def alert_definitions(settings: Settings | None = None) -> list[Alert]:
    """The alerts, with the SLO's thresholds and window from the settings (the defaults without them)."""
    p95, p99, window, minimum = (
        (settings.slo_p95_seconds, settings.slo_p99_seconds, settings.slo_window_minutes, settings.slo_min_changes)
        if settings is not None
        else (15.0, 60.0, 15, 5)
    )
    return [
        Alert(
            "UsersProvisioningP95Slow",
            LatencyQuantile(0.95, p95, window, minimum),
            "page",
            f"{{base}}.{{table}}: p95 provisioning latency {{value}} s over {window} min, above the {p95:g} s SLO",
            runbook="usersprovisioningslow",
        ),
        Alert(
            "UsersProvisioningP99Slow",
            LatencyQuantile(0.99, p99, window, minimum),
            "page",
            f"{{base}}.{{table}}: p99 provisioning latency {{value}} s over {window} min, above the {p99:g} s SLO",
            runbook="usersprovisioningslow",
        ),
        Alert(
            "FastLaneStuck",
            Threshold("airtable_pg_table_missing_oldest_age_seconds", ">", p99, match=(("lane", "fast"),)),
            "page",
            f"{{base}}.{{table}}: a record Airtable created {{value}} s ago is still not in Postgres (over the "
            f"{p99:g} s SLO; seen by the poll sensor's probe)",
        ),
        Alert(
            "TableStale",
            Threshold("airtable_pg_table_freshness_age_seconds", ">", "airtable_pg_table_freshness_bound_seconds"),
            "ticket",
            "{base}.{table}: last change or sync {value} s ago, over its freshness bound",
            for_seconds=120,
        ),
        Alert(
            "NotificationsWaiting",
            Threshold("airtable_pg_notifications_oldest_age_seconds", ">", 60),
            "page",
            "{base}: a webhook notification has waited {value} s for the applier (is `webhooks apply --follow` or "
            "the webhooks sensor running?)",
            for_seconds=60,
        ),
        Alert(
            "OutboxBacklog",
            Threshold("airtable_pg_outbox_oldest_age_seconds", ">", 600),
            "ticket",
            "{base}.{table}: the oldest unpushed Postgres change has waited {value} s",
            for_seconds=300,
        ),
        Alert(
            "DeadLettersOpen",
            Threshold("airtable_pg_dead_letters_open", ">", 0),
            "ticket",
            "{base}: {value} {direction} dead letter(s) wait for triage (`airtable-pg dlq list`)",
        ),
        Alert(
            "WebhookUnhealthy",
            Threshold("airtable_pg_webhook_healthy", "<", 1),
            "page",
            "{base}: the webhook reports an error since its last pass (`airtable-pg webhooks list`)",
            for_seconds=300,
        ),
        Alert(
            "WebhookExpiring",
            Threshold("airtable_pg_webhook_expiry_seconds", "<", 86400),
            "ticket",
            "{base}: the webhook expires in {value} s (is its refresh running? `airtable-pg webhooks refresh`)",
        ),
        Alert(
            "BlockingCheckFailing",
            Threshold("airtable_pg_check_failing", ">", 0, match=(("severity", "error"),)),
            "ticket",
            "{base}.{table}: the blocking check {check} fails",
        ),
        Alert(
            "MetricsUnreadable",
            Threshold("airtable_pg_up", "<", 1),
            "page",
            "the state schema could not be read for /metrics: is Postgres up and migrated?",
            for_seconds=120,
        ),
        Alert(
            "AlerterSilent",
            Threshold("airtable_pg_alerter_last_evaluation_age_seconds", ">", 300),
            "page",
            "the built-in alerter {alerter} has not evaluated for {value} s: is the Dagster daemon running?",
        ),
        Alert(
            "SensorFailing",
            Threshold("airtable_pg_dagster_sensor_failing", ">", 0),
            "ticket",
            "the Dagster sensor {sensor} fails its ticks (its page in the UI shows the error)",
            for_seconds=300,
        ),
        Alert(RUN_FAILED, None, "ticket", "run of {job} failed", runbook="runfailed"),
    ]


def by_name(alerts: list[Alert]) -> dict[str, Alert]:
    return {alert.name: alert for alert in alerts}


def prometheus_rules(alerts: list[Alert]) -> dict:
    """The rules file's content (one group), for ``yaml.safe_dump``."""
    rules = [rule for alert in alerts if (rule := alert.prometheus_rule()) is not None]
    return {"groups": [{"name": "airtable_pg", "rules": rules}]}
