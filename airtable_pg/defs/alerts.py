"""The built-in alerter in Dagster: the ``alerts`` sensor, the run-failure sensor, and the table assets' plots.

- ``alerts`` (every minute) evaluates every metric alert over one read of the state schema and posts to
  ``AIRTABLE_PG_ALERT_WEBHOOK_URL`` (``observability.alerter``: one message per incident, one per recovery). Every
  five minutes it also records one runless observation per table asset with numeric metadata (freshness age,
  queue depths, latency percentiles), which the asset's Plots tab draws over time: no run is launched for it.
- ``alert_on_run_failure`` opens a ``RunFailed`` incident for the failed run's job (not when Dagster will retry
  the run: one incident per final failure), and ``resolve_run_failure`` closes it when that job next succeeds.
- Dagster's own failures become metrics the same way: ``alert_on_run_failure`` records every failed run (retried
  ones too) in ``airtable_sync.dagster_run_failure``, and ``alerts`` counts each of this code location's sensors'
  failed ticks from the instance into ``airtable_sync.dagster_sensor_tick`` (``postgres.dagster_figures``).

The alerter is its own sensor: a failed post or an unreachable webhook never touches a sync's run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from dagster import (
    AssetObservation,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    RunStatusSensorContext,
    RunStatusSensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.scheduler.instigation import InstigatorTick, InstigatorType, TickStatus

from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.observability.alerter import Notifier, TickReport, apply, evaluate
from airtable_pg.observability.alerts import RUN_FAILED, Alert, Breach, Labels, alert_definitions, by_name
from airtable_pg.observability.plots import table_figures
from airtable_pg.postgres.dagster_figures import SensorTicks, checked_until, record_run_failure, record_sensor_ticks
from airtable_pg.postgres.transaction import transaction
from airtable_pg.settings import Settings
from airtable_pg.spec import SyncSpec

ALERTS_SENSOR = "alerts"
ALERTS_SECONDS = 60
OBSERVE_EVERY = timedelta(minutes=5)
WILL_RETRY_TAG = "dagster/will_retry"  # dagster._core.storage.tags.WILL_RETRY_TAG
FIRST_LOOK = timedelta(hours=1)  # how far back the first count of a sensor's failed ticks reaches
STUCK_TICK = 600.0  # seconds: a tick still "started" after this is left behind (its process died)

log = logging.getLogger(__name__)


def _notifier(settings: Settings) -> Notifier | None:
    url = settings.alert_webhook_url
    return Notifier(url.get_secret_value()) if url is not None else None


def _asset_link(settings: Settings, names: Names, spec: SyncSpec):
    keys = {(base.key, table.key) for base, table in spec.tables()}

    def link(alert: Alert, labels: Labels) -> str:
        ui = settings.ui_url.rstrip("/")
        if (labels.get("base"), labels.get("table")) in keys:
            return f"{ui}/assets/{'/'.join(names.table_asset_key(labels['base'], labels['table']).path)}"
        return f"{ui}/overview/sensors"

    return link


def build_alert_definitions(spec: SyncSpec, names: Names = DEFAULT) -> Definitions:
    @sensor(
        name=names(ALERTS_SENSOR),
        minimum_interval_seconds=ALERTS_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description="Evaluates every alert (docs/operations.md) each minute and posts to AIRTABLE_PG_ALERT_WEBHOOK_URL "
        "once per incident and once on recovery; every 5 minutes records the table assets' plotted figures.",
        required_resource_keys={names.resource},
    )
    def alerts(context: SensorEvaluationContext, **_resources: object) -> SensorResult | SkipReason:
        resource = instance_resource(context, names)
        runtime = resource.sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime
        settings = resource.load_settings()
        now = datetime.now(UTC)
        _count_sensor_ticks(context, runtime.db, now)
        report = evaluate(runtime.db, spec, alert_definitions(settings), _notifier(settings), now=now,
                          link_for=_asset_link(settings, names, spec), alerter=names(ALERTS_SENSOR))  # fmt: skip
        events: list[AssetObservation] = []
        cursor = context.cursor
        last = datetime.fromisoformat(cursor) if cursor else None
        if report.samples is not None and (last is None or now - last >= OBSERVE_EVERY):
            events = [
                AssetObservation(asset_key=names.table_asset_key(base_key, table_key), metadata=figures)
                for (base_key, table_key), figures in table_figures(runtime.db, spec, report.samples).items()
            ]
            cursor = now.isoformat()
        return SensorResult(asset_events=events, cursor=cursor, skip_reason=SkipReason(_words(report)))

    # The resource is read from the context; Dagster also passes it as a keyword (its key is the instance's).
    def run_failed(context: RunStatusSensorContext, **_resources: object) -> SkipReason:
        run = context.dagster_run
        _record_run_failure(context, names, spec)
        if run.tags.get(WILL_RETRY_TAG) == "true":
            return SkipReason(f"run {run.run_id} of {run.job_name} failed; Dagster retries it: no alert yet")
        return _run_incident(context, names, spec, failed=True)

    def run_succeeded(context: RunStatusSensorContext, **_resources: object) -> SkipReason:
        return _run_incident(context, names, spec, failed=False)

    status_sensors = [
        RunStatusSensorDefinition(
            name=names(sensor_name),
            run_status=status,
            run_status_sensor_fn=fn,
            description=description,
            default_status=DefaultSensorStatus.RUNNING,
            required_resource_keys={names.resource},
            # Dagster's default is 30 s; a run's failure a minute late costs nothing, two idle ticks a minute do.
            minimum_interval_seconds=ALERTS_SECONDS,
        )
        for sensor_name, status, fn, description in (
            ("alert_on_run_failure", DagsterRunStatus.FAILURE, run_failed,
             "Posts one RunFailed message per job whose run failed for good (not while Dagster retries it)."),
            ("resolve_run_failure", DagsterRunStatus.SUCCESS, run_succeeded,
             "Posts the recovery of a job's RunFailed incident when a run of that job succeeds."),
        )
    ]  # fmt: skip
    return Definitions(sensors=[alerts, *status_sensors])


def _run_incident(context: RunStatusSensorContext, names: Names, spec: SyncSpec, *, failed: bool) -> SkipReason:
    resource = instance_resource(context, names)
    runtime = resource.sensor_runtime(spec)
    if isinstance(runtime, SkipReason):
        return runtime
    settings = resource.load_settings()
    run = context.dagster_run
    labels = {"job": run.job_name}
    alert = by_name(alert_definitions(settings))[RUN_FAILED]
    report = TickReport()
    ui = settings.ui_url.rstrip("/")
    apply(runtime.db, alert, labels, Breach(labels, 1.0) if failed else None, datetime.now(UTC), _notifier(settings),
          lambda _alert, _labels: f"{ui}/runs/{run.run_id}", report)  # fmt: skip
    return SkipReason(f"run {run.run_id} of {run.job_name}: {_words(report)}")


def _record_run_failure(context: RunStatusSensorContext, names: Names, spec: SyncSpec) -> None:
    """Every failed run, once (keyed by its id): ``airtable_pg_dagster_runs_failed_total``."""
    runtime = instance_resource(context, names).sensor_runtime(spec)
    if isinstance(runtime, SkipReason):
        return
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None
    failed_at = datetime.fromtimestamp(ended, UTC) if ended else datetime.now(UTC)
    with transaction(runtime.db) as cur:
        record_run_failure(cur, run.run_id, run.job_name, failed_at, will_retry=run.tags.get(WILL_RETRY_TAG) == "true")


def _count_sensor_ticks(context: SensorEvaluationContext, db: sa.Engine, now: datetime) -> None:
    """Count the failed ticks of this code location's sensors since the last look, from the Dagster instance: one
    query of its instigator states and one per sensor, each of the ticks since then (a minute's worth)."""
    repository = context.repository_def
    if repository is None:
        return
    mine = {sensor.name for sensor in repository.sensor_defs}
    try:
        states = context.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        with transaction(db) as cur:
            since = checked_until(cur)
        looks = []
        for state in states:
            name = state.instigator_name
            if name not in mine or state.origin.repository_origin.repository_name != context.repository_name:
                continue
            after = since.get(name, now - FIRST_LOOK)
            ticks = context.instance.get_ticks(
                state.instigator_origin_id, state.selector_id, after=after.timestamp(), before=now.timestamp()
            )
            looks.append(_look(name, ticks, now))
        with transaction(db) as cur:
            record_sensor_ticks(cur, looks)
    except Exception:  # whatever failed, a figure must never stop the alerter's own tick
        log.warning("could not count the sensors' failed ticks", exc_info=True)


def _look(sensor: str, ticks: Sequence[InstigatorTick], now: datetime) -> SensorTicks:
    """What the ticks since the last look say. A tick is stamped when it starts and gets its status when it ends, so
    the look stops just before the earliest tick still running (this sensor's own, for one): the next look counts
    it once it has ended. A tick running for longer than ``STUCK_TICK`` no longer holds the count back."""
    running = [
        t.timestamp for t in ticks if t.status == TickStatus.STARTED and now.timestamp() - t.timestamp < STUCK_TICK
    ]
    until = min(running) - 1e-6 if running else now.timestamp()
    ended = [t for t in ticks if t.status != TickStatus.STARTED and t.timestamp <= until]
    failures = [t for t in ended if t.status == TickStatus.FAILURE]
    latest = max(ended, key=lambda t: t.timestamp, default=None)
    return SensorTicks(
        sensor=sensor,
        new_failures=len(failures),
        failing=latest is not None and latest.status == TickStatus.FAILURE,
        last_tick_at=datetime.fromtimestamp(latest.timestamp, UTC) if latest else None,
        last_failure_at=datetime.fromtimestamp(max(t.timestamp for t in failures), UTC) if failures else None,
        checked_until=datetime.fromtimestamp(until, UTC),
    )


def _words(report: TickReport) -> str:
    parts: list[Any] = []
    if report.skipped:
        parts.append(report.skipped)
    parts += [f"fired {', '.join(report.fired)}"] if report.fired else []
    parts += [f"resolved {', '.join(report.resolved)}"] if report.resolved else []
    parts += [f"NOT DELIVERED (retried next tick): {', '.join(report.failed)}"] if report.failed else []
    parts.append(f"{report.open} incident(s) firing")
    return "; ".join(parts)
