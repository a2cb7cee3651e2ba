"""The built-in alerter in Dagster: the ``alerts`` sensor, the run-failure sensor, and the table assets' plots.

- ``alerts`` (every minute) evaluates every metric alert over one read of the state schema and posts to
  ``AIRTABLE_PG_ALERT_WEBHOOK_URL`` (``observability.alerter``: one message per incident, one per recovery). Every
  five minutes it also records one runless observation per table asset with numeric metadata (freshness age,
  queue depths, latency percentiles), which the asset's Plots tab draws over time: no run is launched for it.
- ``alert_on_run_failure`` opens a ``RunFailed`` incident for the failed run's job (not when Dagster will retry
  the run: one incident per final failure), and ``resolve_run_failure`` closes it when that job next succeeds.

The alerter is its own sensor: a failed post or an unreachable webhook never touches a sync's run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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

from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.observability.alerter import Notifier, TickReport, apply, evaluate
from airtable_pg.observability.alerts import RUN_FAILED, Alert, Breach, Labels, alert_definitions, by_name
from airtable_pg.observability.plots import table_figures
from airtable_pg.settings import Settings
from airtable_pg.spec import SyncSpec

ALERTS_SENSOR = "alerts"
ALERTS_SECONDS = 60
OBSERVE_EVERY = timedelta(minutes=5)
WILL_RETRY_TAG = "dagster/will_retry"  # dagster._core.storage.tags.WILL_RETRY_TAG


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


def _words(report: TickReport) -> str:
    parts: list[Any] = []
    if report.skipped:
        parts.append(report.skipped)
    parts += [f"fired {', '.join(report.fired)}"] if report.fired else []
    parts += [f"resolved {', '.join(report.resolved)}"] if report.resolved else []
    parts += [f"NOT DELIVERED (retried next tick): {', '.join(report.failed)}"] if report.failed else []
    parts.append(f"{report.open} incident(s) firing")
    return "; ".join(parts)
