"""The cutover's latency baseline as a Dagster asset, so the UI plots each endpoint's figures over time.

``cutover/latency_baseline`` measures what ``airtable-pg bench api`` measures (``airtable_pg.api.baseline``: per
entity its first page, one record and one record's linked records, from Airtable and from the mirror, open loop)
and records p50/p95 of both backends and the p95 delta per endpoint as numeric metadata: Dagster draws each as a
plot across materializations. It reads Airtable (about ``reads`` × 2 requests per endpoint, through the shared
bucket at ``rate`` reads a second), so it is materialized on demand or by the weekly schedule, which starts stopped:
turn it on to follow the delta through a cutover. It sits in its own group, away from the tables' "Materialize all",
and draws no lineage from the tables: an arrow from every table to a measurement would hide the links between
them in each base's graph.
"""

# No `from __future__ import annotations`: Dagster reads the config parameter's annotation at definition time.
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    DefaultScheduleStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    define_asset_job,
)
from pydantic import Field

from airtable_pg.api.baseline import EndpointBaseline, markdown_table, measure
from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.spec import SyncSpec

GROUP = "cutover"
BASELINE_JOB = "latency_baseline"


class LatencyBaselineConfig(Config):
    reads: int = 20  # per endpoint and backend
    rate: float = 2.0  # reads a second, open loop: under the base's 5 requests/s
    entities: list[str] = Field(default_factory=list)  # base.table or table keys; none: every entity


def baseline_asset_key(names: Names) -> AssetKey:
    return AssetKey([*([names.prefix] if names.prefix else []), GROUP, "latency_baseline"])


def baseline_metadata(results: list[EndpointBaseline]) -> dict[str, MetadataValue]:
    metadata: dict[str, MetadataValue] = {"baseline": MetadataValue.md(markdown_table(results))}
    for r in results:
        figures = {
            "airtable_p50_ms": r.airtable.p50_ms,
            "airtable_p95_ms": r.airtable.p95_ms,
            "postgres_p50_ms": r.postgres.p50_ms,
            "postgres_p95_ms": r.postgres.p95_ms,
            "p95_delta_ms": round(r.p95_delta_ms, 2),
        }
        metadata |= {f"{r.entity} {r.endpoint}: {name}": MetadataValue.float(v) for name, v in figures.items()}
    if results:
        metadata["worst_p95_delta_ms"] = MetadataValue.float(round(max(r.p95_delta_ms for r in results), 2))
    return metadata


def build_baseline_definitions(spec: SyncSpec, names: Names = DEFAULT) -> Definitions:
    key = baseline_asset_key(names)

    @asset(
        key=key,
        group_name=GROUP,
        description="p50/p95 of each entity's reads from Airtable and from the mirror, and the p95 delta: the "
        "cutover's latency baseline (airtable-pg bench api). Reads Airtable through the shared bucket.",
        required_resource_keys={names.resource},
    )
    def latency_baseline(context: AssetExecutionContext, config: LatencyBaselineConfig) -> MaterializeResult:
        runtime = instance_resource(context, names).step_runtime(spec)

        def report(result: EndpointBaseline) -> None:
            context.log.info(
                f"{result.entity} {result.endpoint}: Airtable p95 {result.airtable.p95_ms} ms, "
                f"Postgres p95 {result.postgres.p95_ms} ms"
            )

        results = measure(
            spec,
            runtime.api(),
            runtime.database_url,
            entities=config.entities or None,
            reads=config.reads,
            rate=config.rate,
            on_result=report,
        )
        return MaterializeResult(metadata=baseline_metadata(results))

    baseline_job = define_asset_job(
        names(BASELINE_JOB),
        selection=AssetSelection.assets(key),
        executor_def=SYNC_EXECUTOR,
        description="Measure the latency baseline: every entity's reads from Airtable and from the mirror.",
    )
    weekly = ScheduleDefinition(
        name=names("latency_baseline_weekly"),
        job=baseline_job,
        cron_schedule="23 4 * * 1",
        default_status=DefaultScheduleStatus.STOPPED,
        description="The latency baseline every Monday (stopped until you turn it on: it reads Airtable).",
    )
    return Definitions(assets=[latency_baseline], jobs=[baseline_job], schedules=[weekly])
