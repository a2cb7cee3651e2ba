"""The alerter's memory: one ``alert_incident`` row per alert and scope, and the silences people set.

The row is the whole dedup state, so a sensor tick, a restarted daemon or a second process all agree on whether a
message was sent; it is written in the same transaction as the decision, and that transaction commits only after
the message was posted (a failed post leaves the incident as it was, and the next tick tries again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from psycopg import Cursor, sql

from airtable_pg.postgres.sync_state import state_table


@dataclass(frozen=True)
class Incident:
    alert: str
    scope: str
    labels: dict[str, str]
    state: str  # pending | firing | resolved
    since: datetime
    last_true_at: datetime
    value: float | None
    summary: str
    notified_at: datetime | None
    resolved_at: datetime | None


_COLUMNS = "alert, scope, labels, state, since, last_true_at, value, summary, notified_at, resolved_at"


def open_incidents(cur: Cursor, alerts: list[str]) -> dict[tuple[str, str], Incident]:
    """The pending and firing incidents of these alerts, locked until the transaction ends."""
    cur.execute(
        sql.SQL("select {} from {} where alert = any(%s) and state <> 'resolved' order by alert, scope for update")
        .format(sql.SQL(_COLUMNS), state_table("alert_incident")),
        (alerts,),
    )
    return {(row[0], row[1]): Incident(*row) for row in cur.fetchall()}


def lock_incident(cur: Cursor, alert: str, scope: str) -> Incident | None:
    cur.execute(
        sql.SQL("select {} from {} where alert = %s and scope = %s for update").format(
            sql.SQL(_COLUMNS), state_table("alert_incident")
        ),
        (alert, scope),
    )
    row = cur.fetchone()
    return Incident(*row) if row else None


def save_incident(cur: Cursor, incident: Incident) -> None:
    """Insert or replace the incident of its alert and scope (a new incident reuses a resolved one's row)."""
    cur.execute(
        sql.SQL(
            "insert into {} ({}) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (alert, scope) do update "
            "set labels = excluded.labels, state = excluded.state, since = excluded.since, "
            "last_true_at = excluded.last_true_at, value = excluded.value, summary = excluded.summary, "
            "notified_at = excluded.notified_at, resolved_at = excluded.resolved_at"
        ).format(state_table("alert_incident"), sql.SQL(_COLUMNS)),
        (
            incident.alert, incident.scope, json.dumps(incident.labels), incident.state, incident.since,
            incident.last_true_at, incident.value, incident.summary, incident.notified_at, incident.resolved_at,
        ),
    )  # fmt: skip


def all_incidents(cur: Cursor, *, include_resolved: bool = False) -> list[Incident]:
    cur.execute(
        sql.SQL("select {} from {} {} order by since desc").format(
            sql.SQL(_COLUMNS),
            state_table("alert_incident"),
            sql.SQL("" if include_resolved else "where state <> 'resolved'"),
        )
    )
    return [Incident(*row) for row in cur.fetchall()]


def silenced(cur: Cursor, at: datetime) -> dict[str, datetime]:
    """Alert name → until when it is silenced, for the silences still running at ``at``."""
    cur.execute(sql.SQL("select alert, until from {} where until > %s").format(state_table("alert_silence")), (at,))
    return dict(cur.fetchall())


def silence(cur: Cursor, alert: str, until: datetime, reason: str) -> None:
    cur.execute(
        sql.SQL(
            "insert into {} (alert, until, reason) values (%s, %s, %s) on conflict (alert) do update "
            "set until = excluded.until, reason = excluded.reason, created_at = now()"
        ).format(state_table("alert_silence")),
        (alert, until, reason),
    )


def unsilence(cur: Cursor, alert: str) -> bool:
    cur.execute(sql.SQL("delete from {} where alert = %s").format(state_table("alert_silence")), (alert,))
    return cur.rowcount > 0


def record_evaluation(cur: Cursor, alerter: str, firing: int) -> None:
    """The alerter's heartbeat: ``/metrics`` shows how long ago it last evaluated (``AlerterSilent``)."""
    cur.execute(
        sql.SQL(
            "insert into {} (alerter, evaluated_at, firing) values (%s, now(), %s) on conflict (alerter) do update "
            "set evaluated_at = excluded.evaluated_at, firing = excluded.firing"
        ).format(state_table("alert_evaluation")),
        (alerter, firing),
    )
