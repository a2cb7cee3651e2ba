"""The attachment archive in Dagster: an asset per base, a blocking check, the backlog sensor, the purge job.

``archive/<base>/attachments`` (one per base with attachment fields, drawn in the base's group) copies the base's
attachments not yet archived (``airtable_pg.archive``) and records counts, bytes, backlog and failures as
metadata; it depends on the base's tables that hold attachments, so lineage shows where the files come from.
Its blocking check fails while a live attachment lacks a verified copy. ``archive_backlog`` looks every 60 s
(Postgres only: it compares the archive with the mirror) and requests an ``archive_attachments`` run while
attachments wait, so copies follow each sync on their own time, never inside it. ``archive_purge`` (daily)
removes the bytes of attachments deleted in Airtable longer ago than the retention.
"""

# No `from __future__ import annotations`: Dagster reads the context parameters' annotations at definition time.
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    asset,
    asset_check,
    define_asset_job,
    job,
    op,
    sensor,
)

from airtable_pg.archive.archiver import ArchiveReport, attachment_fields
from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.postgres.attachments import BaseCounts
from airtable_pg.spec import BaseSpec, SyncSpec

ARCHIVE_PREFIX = "archive"
ARCHIVE_JOB = "archive_attachments"
PURGE_JOB = "archive_purge"
BACKLOG_SENSOR = "archive_backlog"
CHECK_NAME = "every_attachment_archived"


def archive_asset_key(names: Names, base_key: str) -> AssetKey:
    # Drawn as "attachments" in the base's group, beside the tables it copies from.
    return AssetKey([*([names.prefix] if names.prefix else []), ARCHIVE_PREFIX, base_key, "attachments"])


def archive_metadata(counts: BaseCounts, report: ArchiveReport | None = None) -> dict[str, MetadataValue]:
    metadata = {
        "live": MetadataValue.int(counts.live),
        "archived": MetadataValue.int(counts.archived),
        "backlog": MetadataValue.int(counts.backlog),
        "failed": MetadataValue.int(counts.failed),
        "tombstoned": MetadataValue.int(counts.tombstoned),
        "purged": MetadataValue.int(counts.purged),
        "archived_bytes": MetadataValue.int(counts.archived_bytes),
    }
    if report is not None:
        metadata |= {
            "copied_now": MetadataValue.int(report.archived),
            "copied_bytes_now": MetadataValue.int(report.bytes),
            "expired_urls_read_again": MetadataValue.int(report.refreshed),
            "failed_attempts_now": MetadataValue.int(report.failed),
            "seconds": MetadataValue.float(round(report.seconds, 3)),
        }
    return metadata


def _bases_with_attachments(spec: SyncSpec) -> list[BaseSpec]:
    return [b for b in spec.bases.values() if any(attachment_fields(t) for t in b.tables.values())]


def _archive_asset(spec: SyncSpec, base: BaseSpec, names: Names) -> tuple[AssetsDefinition, AssetChecksDefinition]:
    key = archive_asset_key(names, base.key)
    deps = [names.table_asset_key(base.key, t.key) for t in base.tables.values() if attachment_fields(t)]
    needs = {"required_resource_keys": {names.resource}}

    @asset(
        key=key,
        deps=deps,
        group_name=base.key,
        description=f"Copies of every attachment in base {base.key} ({base.id}), by Airtable attachment id, that "
        "outlive Airtable's expiring URLs.",
        **needs,
    )
    def archive(context: AssetExecutionContext) -> MaterializeResult:
        archiver = instance_resource(context, names).step_runtime(spec).archiver()
        report = archiver.run([base.id])
        counts = archiver.counts([base.id])[base.id]
        context.log.info(f"archived {report.archived} ({report.bytes} bytes); backlog {counts.backlog}")
        return MaterializeResult(metadata=archive_metadata(counts, report))

    @asset_check(
        asset=key,
        name=CHECK_NAME,
        blocking=True,
        description="Every live attachment has a verified copy (size and sha256) in the archive store.",
        **needs,
    )
    def every_attachment_archived(context: AssetCheckExecutionContext) -> AssetCheckResult:
        archiver = instance_resource(context, names).step_runtime(spec).archiver()
        archiver.reconcile([base.id])
        missing, first = archiver.unverified(base.id)
        return AssetCheckResult(
            passed=missing == 0,
            severity=AssetCheckSeverity.ERROR,
            description=f"{missing} live attachment(s) without a verified copy" if missing else "all archived",
            metadata={"unverified": MetadataValue.int(missing), "first_unverified": MetadataValue.json(first)},
        )

    return archive, every_attachment_archived


def build_archive_definitions(spec: SyncSpec, names: Names = DEFAULT) -> Definitions:
    """Nothing when no table of the spec has an attachment field."""
    bases = _bases_with_attachments(spec)
    if not bases:
        return Definitions()
    built = [_archive_asset(spec, base, names) for base in bases]
    assets, checks = [a for a, _ in built], [c for _, c in built]
    keys = [archive_asset_key(names, base.key) for base in bases]
    archive_job = define_asset_job(
        names(ARCHIVE_JOB),
        selection=AssetSelection.assets(*keys),
        executor_def=SYNC_EXECUTOR,
        description="Copy every attachment not yet archived, base by base.",
    )
    needs = {"required_resource_keys": {names.resource}}

    @op(name=names("purge_archive"), description="Remove copies tombstoned longer than the retention.", **needs)
    def purge_archive(context: OpExecutionContext) -> None:
        report = instance_resource(context, names).step_runtime(spec).archiver().purge()
        context.log.info(f"purged {report.purged} copies, {report.partials_removed} partial files")

    @job(name=names(PURGE_JOB), executor_def=SYNC_EXECUTOR)
    def archive_purge() -> None:
        purge_archive()

    purge_daily = ScheduleDefinition(
        name=names("archive_purge_daily"),
        job=archive_purge,
        cron_schedule="17 3 * * *",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Purge the archive's expired tombstones once a day.",
    )

    @sensor(
        name=names(BACKLOG_SENSOR),
        job=archive_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests an archive_attachments run while attachments in the mirror wait for a copy.",
        **needs,
    )
    def archive_backlog(context: SensorEvaluationContext, **_resources: object) -> RunRequest | SkipReason:
        runtime = instance_resource(context, names).sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime
        archiver = runtime.archiver()
        archiver.reconcile()
        counts = archiver.counts()
        waiting = {base_id: c.backlog for base_id, c in counts.items() if c.backlog}
        if not waiting:
            return SkipReason("every attachment the mirror holds is archived (or failed for good)")
        oldest = min(c.oldest_pending_at for c in counts.values() if c.oldest_pending_at is not None)
        # One run per oldest waiting attachment: while a run copies it, the next tick asks for nothing new.
        return RunRequest(
            run_key=f"archive:{oldest.isoformat()}", tags={"airtable_pg/archive_backlog": str(sum(waiting.values()))}
        )

    return Definitions(
        assets=assets, asset_checks=checks, jobs=[archive_job, archive_purge], sensors=[archive_backlog],
        schedules=[purge_daily],
    )  # fmt: skip
