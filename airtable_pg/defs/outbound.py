"""The outbound sync in Dagster: a sensor on outbox depth, the push job, and dead-letter jobs.

``outbox_depth`` looks at the outbox every 30 s (Postgres only, no Airtable request) and requests an
``outbound_push`` run while changes are pending; the run pushes them (``sync.outbound``) and records an asset
materialization per table it pushed to (created / updated / deleted, lag, dead letters), so the asset's page
shows what went to Airtable. A long-running ``airtable-pg outbound run --follow`` (``airtable-pg dev`` starts one)
pushes within a second; the sensor is the safety net when no pusher runs. ``dlq_replay`` and ``dlq_discard`` do
what ``airtable-pg dlq replay|discard`` do.
"""

from typing import Any

from dagster import (
    AssetMaterialization,
    Config,
    DefaultSensorStatus,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    sensor,
)
from pydantic import Field

from airtable_pg.airtable.client import RequestStats, make_api
from airtable_pg.defs.lineage import table_asset_key
from airtable_pg.defs.resources import SyncEngineResource
from airtable_pg.postgres import dead_letters as letters
from airtable_pg.postgres import outbox
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.transaction import transaction
from airtable_pg.settings import Settings
from airtable_pg.spec import SyncSpec
from airtable_pg.sync import dead_letters
from airtable_pg.sync.outbound import OutboundConfig, OutboundPusher, PushReport

PUSH_JOB = "outbound_push"
DEPTH_SENSOR = "outbox_depth"
REPLAY_JOB = "dlq_replay"
DISCARD_JOB = "dlq_discard"


class ReplayConfig(Config):
    ids: list[int] = Field(default_factory=list)
    all: bool = False


class DiscardConfig(Config):
    id: int
    reason: str


def push_materializations(spec: SyncSpec, report: PushReport) -> list[AssetMaterialization]:
    lag = sorted(report.lag_seconds)
    p95 = lag[int(0.95 * (len(lag) - 1))] if lag else 0.0
    events = []
    for base, table in spec.tables():
        tally = report.by_table.get(table.key)
        if not tally:
            continue
        events.append(
            AssetMaterialization(
                asset_key=table_asset_key(base.key, table.key),
                description="pushed to Airtable from the outbox",
                metadata={
                    "mode": MetadataValue.text("outbound"),
                    **{kind: MetadataValue.int(n) for kind, n in tally.items()},
                    "dead_lettered": MetadataValue.int(report.dead_lettered),
                    "lag_p95_seconds": MetadataValue.float(round(p95, 3)),
                },
            )
        )
    return events


def build_outbound_definitions(spec: SyncSpec, settings: Settings) -> tuple[list[Any], list[Any]]:
    """``(jobs, sensors)`` of the outbound sync; nothing when no table is Postgres-authoritative."""

    def pusher(sync_engine: SyncEngineResource) -> OutboundPusher:
        db = connection_pool(sync_engine.postgres.database_url)
        config = sync_engine.airtable.client_config().for_spec(spec)  # the spec's share of each base
        api = make_api(config, config.rate_limiter(db), RequestStats())
        return OutboundPusher(spec, db, api, OutboundConfig.from_settings(settings))

    @op(description="Push every pending outbox change to Airtable; one materialization per table pushed to.")
    def push_outbox(context: OpExecutionContext, sync_engine: SyncEngineResource) -> None:
        report = pusher(sync_engine).push_all()
        for event in push_materializations(spec, report):
            context.log_event(event)
        context.log.info(f"pushed {report.pushed}, dead-lettered {report.dead_lettered}, to retry {report.retried}")

    @job(name=PUSH_JOB, tags={"airtable_pg/trigger": DEPTH_SENSOR})
    def outbound_push() -> None:
        push_outbox()

    @op(description="Replay dead letters (ids, or all open ones): inbound re-applied, outbound re-queued and pushed.")
    def replay_dead_letters(context: OpExecutionContext, config: ReplayConfig, sync_engine: SyncEngineResource) -> None:
        runner = pusher(sync_engine)
        ids = config.ids
        if config.all:
            with transaction(runner.db) as cur:
                ids = letters.open_ids(cur)
        outcome = dead_letters.replay(spec, runner.db, runner.api, ids)
        report = runner.push_all() if outcome.requeued else PushReport()
        for event in push_materializations(spec, report):
            context.log_event(event)
        undelivered = {i: letter.error for i, letter in dead_letters.still_open(runner.db, outcome.requeued).items()}
        failing = outcome.failed | undelivered
        context.log.info(
            f"applied {outcome.replayed}, re-queued {outcome.requeued}, closed already {outcome.skipped}, "
            f"still failing (open) {failing}"
        )
        if failing:
            raise RuntimeError(f"dead letters still failing, left open: {failing}")

    @job(name=REPLAY_JOB)
    def dlq_replay() -> None:
        replay_dead_letters()

    @op(description="Discard a dead letter with a reason (kept as the audit row).")
    def discard_dead_letter(
        context: OpExecutionContext, config: DiscardConfig, sync_engine: SyncEngineResource
    ) -> None:
        closed = dead_letters.discard(connection_pool(sync_engine.postgres.database_url), config.id, config.reason)
        context.log.info(f"dead letter {config.id}: {'discarded' if closed else 'closed already'}")

    @job(name=DISCARD_JOB)
    def dlq_discard() -> None:
        discard_dead_letter()

    @sensor(
        name=DEPTH_SENSOR,
        job=outbound_push,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests an outbound_push run while the outbox holds pending changes.",
    )
    def outbox_depth(context: SensorEvaluationContext, sync_engine: SyncEngineResource) -> RunRequest | SkipReason:
        with transaction(connection_pool(sync_engine.postgres.database_url)) as cur:
            depths = outbox.depth(cur)
        pending = sum(d.pending for d in depths)
        if not pending:
            return SkipReason("the outbox is empty")
        oldest = min(d.oldest_pending for d in depths if d.oldest_pending is not None)
        # One run per oldest pending change: while a run works on it, the next tick asks for nothing new.
        return RunRequest(run_key=f"outbox:{oldest.isoformat()}", tags={"airtable_pg/outbox_pending": str(pending)})

    if not any(table.is_postgres_authoritative for _, table in spec.tables()):
        return [dlq_replay, dlq_discard], []
    return [outbound_push, dlq_replay, dlq_discard], [outbox_depth]
