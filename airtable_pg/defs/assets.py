"""One Dagster asset per mirrored Airtable table, made from the sync spec (never written by hand).

An asset is the Postgres mirror table; materializing it runs the sync engine for that table. The
engine knows nothing of Dagster: this module only translates spec → asset definition and
``SyncResult`` → materialization metadata.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Backoff,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    asset,
)
from pydantic import Field

from airtable_pg.airtable.errors import AirtableError
from airtable_pg.defs.lineage import BaseLineage, base_lineage, column_lineage, table_asset_key
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.postgres.errors import SchemaNotReady
from airtable_pg.postgres.schema import mirror_columns
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec
from airtable_pg.sync.engine import SyncResult

__all__ = ["SyncConfig", "base_lineage", "build_table_assets", "table_asset_key"]

# Who answers for a table's data is whoever is authoritative for it (the spec's `authority`): the staff editing
# Airtable's back office, or the team whose app writes Postgres. Callers with real teams pass their own.
DEFAULT_OWNERS: Mapping[str, Sequence[str]] = {"airtable": ("team:back_office",), "postgres": ("team:app",)}

AUTHORITY_FLOW = {
    "airtable": "Airtable is the source of truth; changes flow inbound (Airtable → Postgres).",
    "postgres": "Postgres is the source of truth; the app's changes flow outbound (Postgres → Airtable).",
}

# Every sync is idempotent (an upsert on the record id, then tombstones for what a completed scan did not see),
# so retrying a step that lost its network or database is safe.
SYNC_RETRY_POLICY = RetryPolicy(max_retries=2, delay=30, backoff=Backoff.EXPONENTIAL)


class SyncConfig(Config):
    """Run config of one table's materialization."""

    mode: Literal["full", "incremental", "computed"] = Field(
        default="full",
        description="full: scan every record and tombstone the missing ones; "
        "incremental: only records modified since the table's watermark; "
        "computed: re-read only the computed cells (formula, rollup, lookup, count) of every record.",
    )


# ---------------------------------------------------------------------------------------------
# Definition metadata: what a person browsing the catalog needs to know about the mirror table.


def column_schema(table: TableSpec) -> TableSchema:
    """The mirror's columns as the migrations create them (``postgres.schema``), described for the catalog."""
    by_column = {f.column: f for f in table.fields.values()}
    columns = []
    for column in mirror_columns(table):
        f = by_column.get(column.name)
        if f is not None:
            columns.append(
                TableColumn(
                    f.column,
                    f.pg_type,
                    description=f"Airtable field {f.name!r} ({f.id}, {f.type})",
                    tags={"airtable_field_id": f.id, "airtable_type": f.type},
                )
            )
            continue
        constraints = TableColumnConstraints(
            nullable=bool(column.nullable) and not column.primary_key,
            unique=bool(column.unique) or column.primary_key,
        )
        columns.append(
            TableColumn(
                column.name, column.info["pg_type"], description=column.info["description"], constraints=constraints
            )
        )
    return TableSchema(columns=columns)


def qualified_table_name(base: BaseSpec, table: TableSpec) -> str:
    return f"{base.schema}.{table.mirror}"


def table_description(base: BaseSpec, table: TableSpec, lineage: BaseLineage) -> str:
    # The Catalog lists the first line as plain text: no markdown there, the details follow.
    lines = [
        f"Airtable table {table.airtable_name} mirrored in Postgres {qualified_table_name(base, table)}.",
        "",
        f"Airtable table `{table.id}` of base `{base.id}`.",
        "",
        f"- Authority: **{table.authority}**. {AUTHORITY_FLOW[table.authority]}",
        f"- Lane: **{table.lane}**; polled every {table.poll_interval_seconds} s.",
        "- A materialization is a full sync (every record, tombstones for deleted ones); "
        "run config `mode: incremental` syncs only records modified since the watermark. Changes made without a "
        "run are materializations too (webhook applier, `airtable-pg sync`, `airtable-pg dev`'s first import); a "
        "pass or poll that changed nothing is an observation.",
        "- Gates (asset checks, all blocking): a run evaluates them with its materialization (`reconcile_counts` "
        "only with full syncs). A change recorded without a run gets `freshness` and `links` evaluated at once "
        "(Postgres only, milliseconds) and the other gates' latest verdicts carried forward with their age, since "
        "they cost Airtable requests or a whole-table scan; the nightly `cutover_gates` job, poll runs and "
        "`airtable-pg checks run` evaluate those.",
    ]
    for edge in lineage.dropped:
        if edge.downstream == table.key:
            self_link = edge.upstream == table.key
            why = "a table cannot depend on itself" if self_link else "that table already depends on this one"
            lines.append(
                f"- Link field {edge.link.name!r} ({edge.link.id}) → `{edge.upstream}` is synced but not drawn "
                f"as a dependency: {why}, and Dagster's lineage must stay acyclic."
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Materialization metadata: what one sync did.


def materialization_metadata(result: SyncResult, base: BaseSpec, table: TableSpec) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "mode": MetadataValue.text(result.mode),
        "rows_seen": MetadataValue.int(result.rows_seen),
        "inserted": MetadataValue.int(result.inserted),
        "updated": MetadataValue.int(result.updated),
        "unchanged": MetadataValue.int(result.unchanged),
        "tombstoned": MetadataValue.int(result.tombstoned),
        "restored": MetadataValue.int(result.restored),
        "cell_errors": MetadataValue.int(result.cell_errors),
        "requests": MetadataValue.int(result.requests),
        "throttled_429": MetadataValue.int(result.throttled_429),
        "retried_5xx": MetadataValue.int(result.retried_5xx),
        "duration_s": MetadataValue.float(float(result.duration_s)),
        "scan_ranges": MetadataValue.int(result.scan_ranges),
        "watermark": _watermark_value(result.watermark),
        "dagster/row_count": MetadataValue.int(result.row_count),
        "dagster/table_name": MetadataValue.text(qualified_table_name(base, table)),
    }
    if result.fallback_reason:  # e.g. an incremental sync of a table never fully synced ran a full one
        metadata["fallback_reason"] = MetadataValue.text(result.fallback_reason)
    return metadata


def _watermark_value(watermark: datetime | None) -> MetadataValue:
    if watermark is None:
        return MetadataValue.null()
    return MetadataValue.timestamp(watermark)


def raise_if_permanent(error: AirtableError | SchemaNotReady) -> None:
    """Fail without retries when retrying cannot help: Airtable refused the request, or migrations are missing.

    429s and 5xx arrive here only after the client's own retries are exhausted; those, network failures
    and database hiccups keep the retry policy.
    """
    if isinstance(error, SchemaNotReady):
        raise Failure(description=str(error), allow_retries=False) from error
    if error.permanent:
        raise Failure(description=str(error), allow_retries=False) from error


# ---------------------------------------------------------------------------------------------
# The factory.


def build_table_assets(
    spec: SyncSpec, *, owners_by_authority: Mapping[str, Sequence[str]] = DEFAULT_OWNERS, names: Names = DEFAULT
) -> list[AssetsDefinition]:
    assets: list[AssetsDefinition] = []
    for base in spec.bases.values():
        lineage = base_lineage(base)
        for table in base.tables.values():
            assets.append(_table_asset(spec, base, table, lineage, owners_by_authority, names))
    return assets


def _table_asset(
    spec: SyncSpec,
    base: BaseSpec,
    table: TableSpec,
    lineage: BaseLineage,
    owners_by_authority: Mapping[str, Sequence[str]],
    names: Names,
) -> AssetsDefinition:
    drawn_links = [edge for edge in lineage.kept if edge.downstream == table.key]
    definition_metadata: dict[str, Any] = {
        "dagster/column_schema": MetadataValue.table_schema(column_schema(table)),
        "dagster/table_name": MetadataValue.text(qualified_table_name(base, table)),
        "airtable_base_id": base.id,
        "airtable_table_id": table.id,
        "airtable_table_name": table.airtable_name,
        "poll_interval_seconds": table.poll_interval_seconds,
    }
    if drawn_links:
        definition_metadata["dagster/column_lineage"] = MetadataValue.column_lineage(
            column_lineage(base.key, drawn_links, names.table_asset_key)
        )

    @asset(
        key=names.table_asset_key(base.key, table.key),
        deps=[names.table_asset_key(base.key, upstream) for upstream in lineage.upstream_of(table.key)],
        group_name=base.key,
        description=table_description(base, table, lineage),
        owners=list(owners_by_authority.get(table.authority, ())),
        tags={"authority": table.authority, "lane": table.lane},
        kinds={"airtable", "postgres"},
        metadata=definition_metadata,
        retry_policy=SYNC_RETRY_POLICY,
        required_resource_keys={names.resource},
    )
    def sync_table(context: AssetExecutionContext, config: SyncConfig) -> MaterializeResult:
        context.log.info(
            f"{config.mode} sync of {base.key}.{table.key} ({table.id}) into {qualified_table_name(base, table)}"
        )
        # Leaving the block closes the engine: a terminated run cancels its sync, which then tombstones nothing.
        try:
            runtime = instance_resource(context, names).runtime(spec)  # refuses a database behind the migrations
            with runtime.sync_engine() as engine:
                result = engine.sync_table(base.key, table.key, config.mode)
        except (AirtableError, SchemaNotReady) as error:
            raise_if_permanent(error)
            raise
        if result.fallback_reason:
            context.log.warning(f"{base.key}.{table.key}: {result.fallback_reason}")
        return MaterializeResult(metadata=materialization_metadata(result, base, table))

    return sync_table
