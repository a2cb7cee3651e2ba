"""Jobs over every mirrored table: a full sync (initial import, re-sync) and an incremental catch-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetsDefinition,
    AssetSelection,
    ExecutorDefinition,
    define_asset_job,
    multiprocess_executor,
)

from airtable_pg.defs.names import DEFAULT, Names

FULL_SYNC_JOB = "full_sync_all"
INCREMENTAL_SYNC_JOB = "incremental_sync_all"

# Tables of one base share its 5 requests/s, so more parallel steps than this only wait on the bucket,
# while each holds a process and a pool of database connections (Postgres allows 100 by default).
MAX_CONCURRENT_TABLES = 4
SYNC_EXECUTOR: ExecutorDefinition = multiprocess_executor.configured(
    {"max_concurrent": MAX_CONCURRENT_TABLES}, name="sync_executor"
)


def incremental_run_config(table_assets: Sequence[AssetsDefinition]) -> dict[str, object]:
    """Run config that puts every table asset's op in incremental mode."""
    return {"ops": {asset_def.op.name: {"config": {"mode": "incremental"}} for asset_def in table_assets}}


def build_sync_jobs(
    table_assets: Sequence[AssetsDefinition],
    *,
    not_after_incremental: Sequence[AssetCheckKey] = (),
    names: Names = DEFAULT,
) -> list[Any]:
    """Asset jobs as ``define_asset_job`` returns them (a type Dagster does not export).

    Both run the tables' asset checks after their syncs, except ``not_after_incremental`` in the incremental job
    (checks too costly for every poll).
    """
    every_table = AssetSelection.assets(*table_assets)  # with the tables' asset checks
    full = define_asset_job(
        names(FULL_SYNC_JOB),
        selection=every_table,
        description="Full sync of every mirrored table: all records, tombstones for those deleted in Airtable. "
        "Idempotent; safe to re-run at any time.",
        tags={"airtable_pg/sync": "full"},
        executor_def=SYNC_EXECUTOR,
    )
    incremental = define_asset_job(
        names(INCREMENTAL_SYNC_JOB),
        selection=every_table - AssetSelection.checks(*not_after_incremental),
        description="Incremental sync of every mirrored table: records modified since each table's watermark.",
        config=incremental_run_config(table_assets),
        tags={"airtable_pg/sync": "incremental"},
        executor_def=SYNC_EXECUTOR,
    )
    return [full, incremental]
