"""Dagster's own failures as this database holds them, so ``/metrics`` serves them from any process.

Prometheus has no view of Dagster's run storage (another database, often another role: ``DAGSTER_PG_URL``), and an
exporter such as the receiver has no Dagster instance at all. So the code location's sensors, which do see it,
write what they saw here: each failed run once (``dagster_run_failure``, keyed by run id, so a run-status sensor
tick processed twice counts it once), and per sensor its failed ticks and whether its latest tick failed
(``dagster_sensor_tick``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import Cursor, sql

from airtable_pg.postgres.sync_state import state_table


def record_run_failure(cur: Cursor, run_id: str, job_name: str, failed_at: datetime, *, will_retry: bool) -> None:
    cur.execute(
        sql.SQL(
            "insert into {} (run_id, job_name, failed_at, will_retry) values (%s, %s, %s, %s) "
            "on conflict (run_id) do nothing"
        ).format(state_table("dagster_run_failure")),
        (run_id, job_name, failed_at, will_retry),
    )


@dataclass(frozen=True)
class SensorTicks:
    """What one look at a sensor's ticks since ``checked_until`` found."""

    sensor: str
    new_failures: int
    failing: bool  # its latest tick failed
    last_tick_at: datetime | None
    last_failure_at: datetime | None
    checked_until: datetime  # the ticks up to here are counted


def checked_until(cur: Cursor) -> dict[str, datetime]:
    """Per sensor, up to where its ticks were counted."""
    cur.execute(sql.SQL("select sensor, checked_until from {}").format(state_table("dagster_sensor_tick")))
    return {sensor: moment for sensor, moment in cur.fetchall() if moment is not None}


def record_sensor_ticks(cur: Cursor, looks: list[SensorTicks]) -> None:
    for look in looks:
        cur.execute(
            sql.SQL(
                "insert into {} as s (sensor, failed_ticks, failing, last_tick_at, last_failure_at, checked_until) "
                "values (%s, %s, %s, %s, %s, %s) on conflict (sensor) do update set "
                "failed_ticks = s.failed_ticks + excluded.failed_ticks, "
                # No tick since the last look: the latest is still the one looked at then.
                "failing = case when excluded.last_tick_at is null then s.failing else excluded.failing end, "
                "last_tick_at = coalesce(excluded.last_tick_at, s.last_tick_at), "
                "last_failure_at = coalesce(excluded.last_failure_at, s.last_failure_at), "
                "checked_until = greatest(s.checked_until, excluded.checked_until)"
            ).format(state_table("dagster_sensor_tick")),
            (look.sensor, look.new_failures, look.failing, look.last_tick_at, look.last_failure_at, look.checked_until),
        )
