"""The outbound sync in Dagster: a sensor on outbox depth, the push job, and dead-letter jobs.

``outbox_depth`` looks at the outbox every 30 s (Postgres only, no Airtable request) and requests an
``outbound_push`` run while changes are pending; the run pushes them (``sync.outbound``) and records an asset
materialization per table it pushed to (created / updated / deleted, lag, dead letters), so the asset's page
shows what went to Airtable. A long-running ``airtable-pg outbound run --follow`` (``airtable-pg dev`` starts one)
pushes within a second; the sensor is the safety net when no pusher runs. ``dlq_replay`` and ``dlq_discard`` do
what ``airtable-pg dlq replay|discard`` do.
"""

from dagster import (
    AssetMaterialization,
    Config,
    DefaultSensorStatus,
    Definitions,
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

from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.postgres import dead_letters as letters
from airtable_pg.postgres import outbox
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import SyncSpec
from airtable_pg.sync import dead_letters
from airtable_pg.sync.outbound import PushReport

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


def push_materializations(spec: SyncSpec, report: PushReport, names: Names = DEFAULT) -> list[AssetMaterialization]:
    lag = sorted(report.lag_seconds)
    p95 = lag[int(0.95 * (len(lag) - 1))] if lag else 0.0
    events = []
    for base, table in spec.tables():
        tally = report.by_table.get(table.key)
        if not tally:
            continue
        events.append(
            AssetMaterialization(
                asset_key=names.table_asset_key(base.key, table.key),
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


def build_outbound_definitions(spec: SyncSpec, names: Names = DEFAULT) -> Definitions:
    """The outbound sync's push job and depth sensor (none when no table is Postgres-authoritative), and the
    dead-letter jobs."""
    needs = {"required_resource_keys": {names.resource}}

    @op(
        name=names("push_outbox"),
        description="Push every pending outbox change to Airtable; one materialization per table pushed to.",
        **needs,
    )
    def push_outbox(context: OpExecutionContext) -> None:
        report = instance_resource(context, names).step_runtime(spec).pusher().push_all()
        for event in push_materializations(spec, report, names):
            context.log_event(event)
        context.log.info(f"pushed {report.pushed}, dead-lettered {report.dead_lettered}, to retry {report.retried}")

    @job(name=names(PUSH_JOB), tags={"airtable_pg/trigger": DEPTH_SENSOR}, executor_def=SYNC_EXECUTOR)
    def outbound_push() -> None:
        push_outbox()

    @op(
        name=names("replay_dead_letters"),
        description="Replay dead letters (ids, or all open ones): inbound re-applied, outbound re-queued and pushed.",
        **needs,
    )
    def replay_dead_letters(context: OpExecutionContext, config: ReplayConfig) -> None:
        runner = instance_resource(context, names).step_runtime(spec).pusher()
        ids = config.ids
        if config.all:
            with transaction(runner.db) as cur:
                ids = letters.open_ids(cur)
        outcome = dead_letters.replay(spec, runner.db, runner.api, ids)
        report = runner.push_all() if outcome.requeued else PushReport()
        for event in push_materializations(spec, report, names):
            context.log_event(event)
        undelivered = {i: letter.error for i, letter in dead_letters.still_open(runner.db, outcome.requeued).items()}
        failing = outcome.failed | undelivered
        context.log.info(
            f"applied {outcome.replayed}, re-queued {outcome.requeued}, closed already {outcome.skipped}, "
            f"still failing (open) {failing}"
        )
        if failing:
            raise RuntimeError(f"dead letters still failing, left open: {failing}")

    @job(name=names(REPLAY_JOB), executor_def=SYNC_EXECUTOR)
    def dlq_replay() -> None:
        replay_dead_letters()

    @op(
        name=names("discard_dead_letter"),
        description="Discard a dead letter with a reason (kept as the audit row).",
        **needs,
    )
    def discard_dead_letter(context: OpExecutionContext, config: DiscardConfig) -> None:
        closed = dead_letters.discard(instance_resource(context, names).step_runtime(spec).db, config.id, config.reason)
        context.log.info(f"dead letter {config.id}: {'discarded' if closed else 'closed already'}")

    @job(name=names(DISCARD_JOB), executor_def=SYNC_EXECUTOR)
    def dlq_discard() -> None:
        discard_dead_letter()

    @sensor(
        name=names(DEPTH_SENSOR),
        job=outbound_push,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests an outbound_push run while the outbox holds pending changes.",
        **needs,
    )
    def outbox_depth(context: SensorEvaluationContext, **_resources: object) -> RunRequest | SkipReason:
        # The resource is read from the context; a sensor called directly (tests) also gets it as a keyword.
        runtime = instance_resource(context, names).sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime
        with transaction(runtime.db) as cur:
            depths = outbox.depth(cur)
        pending = sum(d.pending for d in depths)
        if not pending:
            return SkipReason("the outbox is empty")
        oldest = min(d.oldest_pending for d in depths if d.oldest_pending is not None)
        # One run per oldest pending change: while a run works on it, the next tick asks for nothing new.
        return RunRequest(run_key=f"outbox:{oldest.isoformat()}", tags={"airtable_pg/outbox_pending": str(pending)})

    if not any(table.is_postgres_authoritative for _, table in spec.tables()):
        return Definitions(jobs=[dlq_replay, dlq_discard])
    return Definitions(jobs=[outbound_push, dlq_replay, dlq_discard], sensors=[outbox_depth])
