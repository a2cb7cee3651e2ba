"""The cutover gates as Dagster asset checks: one multi-check per table asset, one result per gate.

Only wiring: :mod:`airtable_pg.checks` does the work; each result is stored for ``airtable-pg cutover status``
and shown on its asset with its reason and details as metadata. Every gate is ``blocking``: whatever stands
downstream of a table in the same run does not materialize while one of its gates fails with severity
ERROR. A warning (``quality`` warnings, a rename) is severity WARN and blocks nothing.

When they run: with each materialization of their table (the counts reconciliation, which reads every
record id from Airtable, only with full syncs), nightly all of them (``cutover_gates`` job), and the
freshness gate every five minutes inside the ``freshness_gates`` sensor: Postgres only and milliseconds of work,
so no run is launched for it (a run would cost a process and show the gate "in progress" for its start-up).
The ``freshness_gates`` job still evaluates it on demand.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    ScheduleDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    multi_asset_check,
    sensor,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from airtable_pg.checks.context import table_name
from airtable_pg.checks.result import CheckResult
from airtable_pg.checks.runner import CHECKS, DESCRIPTIONS, run_checks
from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.postgres.check_results import store_results
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec

GATES_JOB = "cutover_gates"
FRESHNESS_JOB = "freshness_gates"
NIGHTLY = "0 3 * * *"
FRESHNESS_SENSOR = "freshness_gates"
FRESHNESS_SECONDS = 300
FULL_SYNC_ONLY = frozenset({"reconcile_counts"})  # records / 100 requests: not after every incremental poll
SEVERITY = {"error": AssetCheckSeverity.ERROR, "warn": AssetCheckSeverity.WARN}


def build_table_checks(spec: SyncSpec, names: Names = DEFAULT) -> list[AssetChecksDefinition]:
    return [_table_checks(spec, base, table, names) for base, table in spec.tables()]


def check_keys(checks: Sequence[AssetChecksDefinition], names: set[str] | frozenset[str]) -> list[AssetCheckKey]:
    return [key for definition in checks for key in definition.check_keys if key.name in names]


def _table_checks(spec: SyncSpec, base: BaseSpec, table: TableSpec, names: Names) -> AssetChecksDefinition:
    asset_key = names.table_asset_key(base.key, table.key)
    specs = [AssetCheckSpec(name, asset=asset_key, description=DESCRIPTIONS[name], blocking=True) for name in CHECKS]

    @multi_asset_check(
        name=names(f"{base.key}__{table.key}__gates"),
        specs=specs,
        can_subset=True,
        description=f"Cutover gates of {base.key}.{table.key}",
        required_resource_keys={names.resource},
    )
    def gates(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        selected = [key.name for key in context.selected_asset_check_keys]
        checks = instance_resource(context, names).step_runtime(spec).checks()
        try:
            results = run_checks(checks, [(base, table)], selected)
            store_results(checks.db, [(base.id, table.id, r.as_json()) for r in results])
        finally:
            checks.cancel.set()  # leaving the step cancels Airtable requests still waiting
        for result in results:
            yield AssetCheckResult(
                asset_key=asset_key,
                check_name=result.check,
                passed=result.passed,
                severity=SEVERITY[result.severity],
                description=result.reason,
                metadata=check_metadata(result),
            )

    return gates


def check_metadata(result: CheckResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "reason": MetadataValue.text(result.reason),
        "requests": MetadataValue.int(result.requests),
        "seconds": MetadataValue.float(round(result.seconds, 3)),
        "failing_ids": MetadataValue.json(result.failing_ids),
        "details": MetadataValue.json(result.details),
    }
    for name, value in result.details.items():  # the headline numbers, as numbers the UI can plot
        if isinstance(value, int | float) and not isinstance(value, bool):
            metadata[name] = value
    return metadata


def build_check_jobs(checks: Sequence[AssetChecksDefinition], names: Names = DEFAULT) -> Definitions:
    """The ``cutover_gates`` job (nightly) and the ``freshness_gates`` job (on demand)."""
    every_gate = define_asset_job(
        names(GATES_JOB),
        selection=AssetSelection.checks(*checks),
        description="Every cutover gate of every table, without syncing anything.",
        tags={"airtable_pg/checks": "all"},
        executor_def=SYNC_EXECUTOR,
    )
    freshness = define_asset_job(
        names(FRESHNESS_JOB),
        selection=AssetSelection.checks(*check_keys(checks, {"freshness"})),
        description="The freshness gate of every table (Postgres only, no Airtable request).",
        tags={"airtable_pg/checks": "freshness"},
        executor_def=SYNC_EXECUTOR,
    )
    nightly = ScheduleDefinition(
        name=names(f"{GATES_JOB}_schedule"),
        job=every_gate,
        cron_schedule=NIGHTLY,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    return Definitions(jobs=[every_gate, freshness], schedules=[nightly])


def build_freshness_sensor(spec: SyncSpec, names: Names = DEFAULT) -> SensorDefinition:
    """Every table's freshness gate, evaluated in the sensor and recorded as runless check evaluations."""

    @sensor(
        name=names(FRESHNESS_SENSOR),
        minimum_interval_seconds=FRESHNESS_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description="Evaluates every table's freshness gate every 5 minutes (Postgres only): no run is launched.",
        required_resource_keys={names.resource},
    )
    def freshness_gates(context: SensorEvaluationContext, **_resources: object) -> SensorResult | SkipReason:
        # The resource is read from the context; a sensor called directly (tests) also gets it as a keyword.
        runtime = instance_resource(context, names).sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime
        checks = runtime.checks()
        results = run_checks(checks, list(spec.tables()), ["freshness"])
        ids = {table_name(base, table): (base, table) for base, table in spec.tables()}
        store_results(checks.db, [(ids[r.table][0].id, ids[r.table][1].id, r.as_json()) for r in results])
        events = []
        for result in results:
            base, table = ids[result.table]
            asset_key = names.table_asset_key(base.key, table.key)
            events.append(evaluation(asset_key, result, latest_materialization(context.instance, asset_key)))
        stale = [r.table for r in results if not r.passed]
        message = f"stale: {', '.join(stale)}" if stale else f"all {len(results)} table(s) within their bounds"
        return SensorResult(asset_events=events, skip_reason=SkipReason(f"freshness evaluated: {message}"))

    return freshness_gates


def latest_materialization(
    instance: DagsterInstance, asset_key: AssetKey
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The asset's latest materialization, as a verdict made outside its run names what it judged."""
    records = instance.fetch_materializations(asset_key, limit=1).records
    if not records:
        return None
    latest = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=latest.storage_id, run_id=latest.event_log_entry.run_id, timestamp=latest.timestamp
    )


def evaluation(
    asset_key: AssetKey, result: CheckResult, target: AssetCheckEvaluationTargetMaterializationData | None
) -> AssetCheckEvaluation:
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=result.check,
        passed=result.passed,
        metadata=check_metadata(result),
        target_materialization_data=target,
        severity=SEVERITY[result.severity],
        description=result.reason,
        blocking=True,
    )
