"""The built-in alerter: evaluates every alert condition over one scrape, and posts one message when an incident
fires and one when it recovers, never one per tick.

Each incident (an alert and its scope: a table, a base, a job) lives in ``alert_incident``. A condition that holds
opens it as pending; once it has held for the alert's ``for`` it fires and the message is posted; while it holds
nothing more is sent; when it stops holding the incident resolves with one recovery message (a pending one resolves
silently). Every change to one incident runs in its own transaction that commits only after its message was posted,
so a failed post (after retries) leaves the incident as it was and the next tick posts again: a message may repeat
after a crash between the post and the commit, but is never lost. An unreadable state schema evaluates nothing
(it is not a recovery of everything). A silenced alert's incidents move on as usual, unannounced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import requests
import sqlalchemy as sa

from airtable_pg.observability.alerts import Alert, Breach, Labels, Samples
from airtable_pg.observability.metrics import scrape
from airtable_pg.postgres import incidents as store
from airtable_pg.postgres.incidents import Incident
from airtable_pg.postgres.live_status import latency_quantile
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import SyncSpec

log = logging.getLogger(__name__)

POST_ATTEMPTS = 3
POST_TIMEOUT_SECONDS = 10.0
BACKOFF_SECONDS = 1.0

LinkFor = Callable[[Alert, Labels], str]


class DeliveryFailed(RuntimeError):
    """The message could not be posted (after retries); the incident stays as it was."""


class Notifier:
    """POSTs a Slack-compatible JSON message to one URL, retrying passing failures. The URL is a secret: errors
    name the status or the exception's type, never the URL."""

    def __init__(self, url: str, *, attempts: int = POST_ATTEMPTS, backoff_seconds: float = BACKOFF_SECONDS) -> None:
        self._url = url
        self._attempts = attempts
        self._backoff = backoff_seconds

    def post(self, message: dict) -> None:
        problem = "no attempt"
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = requests.post(self._url, json=message, timeout=POST_TIMEOUT_SECONDS)
            except requests.RequestException as error:
                problem = type(error).__name__
                continue
            if response.status_code < 300:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the receiver refused this message: sending it again will not help
        raise DeliveryFailed(f"the alert webhook did not take the message ({problem})")


@dataclass
class TickReport:
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    open: int = 0
    skipped: str | None = None
    samples: Samples | None = None  # the scrape the alerts were evaluated on (None: unreadable)


def scope_of(labels: Labels) -> str:
    """The incident's key within its alert: its labels, in a stable order (``base=demo,table=users``)."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def step(
    alert: Alert, incident: Incident | None, breach: Breach | None, now: datetime, *, announce: bool
) -> tuple[Incident | None, str | None]:
    """The incident after this evaluation, and the message it calls for (``firing``, ``resolved`` or none).
    ``announce``: a message can be sent (a webhook is configured and the alert is not silenced)."""
    if breach is None:
        if incident is None or incident.state == "resolved":
            return None, None
        resolved = replace(incident, state="resolved", resolved_at=now)
        return resolved, "resolved" if incident.state == "firing" and incident.notified_at and announce else None
    summary = alert.summary_for(breach.labels, breach.value)
    if incident is None or incident.state == "resolved":
        incident = Incident(alert.name, scope_of(breach.labels), breach.labels, "pending", now, now, breach.value,
                            summary, None, None)  # fmt: skip
    incident = replace(incident, last_true_at=now, value=breach.value, summary=summary)
    if incident.state == "pending" and now - incident.since >= timedelta(seconds=alert.for_seconds):
        incident = replace(incident, state="firing")
    if incident.state == "firing" and incident.notified_at is None and announce:
        return replace(incident, notified_at=now), "firing"
    return incident, None


def message(alert: Alert, incident: Incident, status: str, link: str) -> dict:
    """Slack-compatible (incoming webhooks take ``text`` with mrkdwn): what, where, since when, and a link."""
    since = incident.since.astimezone(UTC).isoformat(timespec="seconds")
    if status == "firing":
        text = f":red_circle: *FIRING* {alert.name} ({alert.severity}): {incident.summary}\nsince {since}"
    else:
        lasted = (incident.resolved_at or incident.last_true_at) - incident.since
        text = (f":large_green_circle: *RESOLVED* {alert.name}: {incident.summary}\n"
                f"since {since}, resolved after {_duration(lasted)}")  # fmt: skip
    return {"text": f"{text}\n<{link}|open in Dagster>"}


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


def apply(
    db: sa.Engine,
    alert: Alert,
    labels: Labels,
    breach: Breach | None,
    now: datetime,
    notifier: Notifier | None,
    link_for: LinkFor,
    report: TickReport,
) -> None:
    """One incident's evaluation in its own transaction: committed only once its message (if any) was posted."""
    try:
        with transaction(db) as cur:
            incident = store.lock_incident(cur, alert.name, scope_of(labels))
            announce = notifier is not None and alert.name not in store.silenced(cur, now)
            after, status = step(alert, incident, breach, now, announce=announce)
            if after is None or after == incident:
                return
            if status is not None and notifier is not None:
                if report.failed:  # the webhook just failed: later messages wait for the next tick, not its timeout
                    raise DeliveryFailed("deferred: an earlier message of this evaluation was not delivered")
                notifier.post(message(alert, after, status, link_for(alert, after.labels)))
                (report.fired if status == "firing" else report.resolved).append(f"{alert.name} {after.scope}")
            store.save_incident(cur, after)
    except DeliveryFailed as failed:
        log.warning("alert %s (%s) not delivered: %s; the next tick tries again", alert.name, scope_of(labels), failed)
        report.failed.append(f"{alert.name} {scope_of(labels)}")


def evaluate(
    db: sa.Engine,
    spec: SyncSpec,
    alerts: list[Alert],
    notifier: Notifier | None,
    *,
    link_for: LinkFor,
    now: datetime | None = None,
    alerter: str = "alerts",
) -> TickReport:
    """Every metric alert over one scrape: open, fire and resolve their incidents; ``alerter`` names this evaluator
    in its heartbeat (a prefixed Dagster instance's sensor name)."""
    now = now or datetime.now(UTC)
    report = TickReport()
    result = scrape(db, spec)
    if not result.ok:
        report.skipped = "the state schema could not be read: nothing evaluated"
        return report
    samples = report.samples = Samples(result.families)
    quantiles = _quantile_source(db, spec)
    evaluated = [alert for alert in alerts if alert.condition is not None]
    current: dict[tuple[str, str], tuple[Alert, Breach]] = {}
    for alert in evaluated:
        for breach in alert.condition.breaches(samples, quantiles):
            current[(alert.name, scope_of(breach.labels))] = (alert, breach)
    with transaction(db) as cur:
        known = store.open_incidents(cur, [alert.name for alert in evaluated])
    # Another instance's alerter (a project with several specs on one database) keeps its own incidents: only this
    # spec's may be resolved for not breaching here.
    known = {key: incident for key, incident in known.items() if _ours(incident.labels, spec, alerter)}
    alerts_by_name = {alert.name: alert for alert in evaluated}
    for key in sorted(set(current) | set(known)):
        alert, breach = current.get(key, (alerts_by_name[key[0]], None))
        labels = breach.labels if breach is not None else known[key].labels
        apply(db, alert, labels, breach, now, notifier, link_for, report)
    with transaction(db) as cur:
        report.open = sum(1 for i in store.all_incidents(cur) if i.state == "firing")
        store.record_evaluation(cur, alerter, report.open)
    return report


def _ours(labels: Labels, spec: SyncSpec, alerter: str) -> bool:
    if "alerter" in labels:
        return labels["alerter"] == alerter
    if "base" not in labels:
        return True
    if "table" in labels:
        return (labels["base"], labels["table"]) in {(b.key, t.key) for b, t in spec.tables()}
    return labels["base"] in {base.key for base in spec.bases.values()}


def _quantile_source(db: sa.Engine, spec: SyncSpec) -> Callable[[str, float, timedelta], list]:
    def quantiles(lane: str, quantile: float, window: timedelta) -> list[tuple[Labels, float, int]]:
        tables = {(base.id, table.id): (base.key, table.key) for base, table in spec.tables() if table.lane == lane}
        if not tables:
            return []
        with transaction(db) as cur:
            rows = latency_quantile(cur, quantile, window, list(tables))
        return [({"base": tables[(b, t)][0], "table": tables[(b, t)][1]}, value, n) for b, t, value, n in rows]

    return quantiles
