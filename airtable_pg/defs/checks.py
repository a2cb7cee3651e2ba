"""The cutover gates as Dagster asset checks: one multi-check per table asset, one result per gate.

Only wiring: :mod:`airtable_pg.checks` does the work; each result is stored for ``airtable-pg cutover status``
and shown on its asset with its reason and details as metadata. Every gate is ``blocking``: whatever stands
downstream of a table in the same run does not materialize while one of its gates fails with severity
ERROR. A warning (``quality`` warnings, a rename) is severity WARN and blocks nothing.

When they run: with each materialization of their table (the counts reconciliation, which reads every
record id from Airtable, only with full syncs), nightly all of them (``cutover_gates`` job), and the
freshness gate every five minutes (``freshness_gates`` job).
"""

from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    MetadataValue,
    ScheduleDefinition,
    define_asset_job,
    multi_asset_check,
)

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
EVERY_FIVE_MINUTES = "*/5 * * * *"
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
    """The ``cutover_gates`` and ``freshness_gates`` jobs and their schedules."""
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
    schedules = [
        ScheduleDefinition(
            name=names(f"{GATES_JOB}_schedule"),
            job=every_gate,
            cron_schedule=NIGHTLY,
            default_status=DefaultScheduleStatus.RUNNING,
        ),
        ScheduleDefinition(
            name=names(f"{FRESHNESS_JOB}_schedule"),
            job=freshness,
            cron_schedule=EVERY_FIVE_MINUTES,
            default_status=DefaultScheduleStatus.RUNNING,
        ),
    ]
    return Definitions(jobs=[every_gate, freshness], schedules=schedules)
