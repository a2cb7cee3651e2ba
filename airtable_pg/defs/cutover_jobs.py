"""Cutover and rollback as Dagster jobs, for teams that operate from the UI: the same steps as ``airtable-pg cutover
ENTITY`` and ``airtable-pg rollback ENTITY``, with the entity and the reason in the run's config.

One job each, with the entity in its config, rather than a job per entity: the Launchpad asks for the entity, and
the job list does not grow by two with every table. A refusal fails the run with the one line the command prints;
the audit row names the run (``dagster run <id>``) as the actor.
"""


from dagster import Config, Definitions, Failure, OpExecutionContext, job, op

from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.routing.cutover import CutoverRefused, cut_over
from airtable_pg.routing.flags import BackendFlags
from airtable_pg.routing.rollback import RollbackRefused, rollback
from airtable_pg.spec import SyncSpec, UnknownTable

CUTOVER_JOB, ROLLBACK_JOB = "cutover_entity", "rollback_entity"


class CutoverConfig(Config):
    entity: str  # base.table, or a table key unique in the spec
    reason: str


class RollbackConfig(Config):
    entity: str
    reason: str
    timeout_seconds: float = 600.0
    accept_dead_letters: bool = False


def build_cutover_jobs(spec: SyncSpec, names: Names = DEFAULT) -> Definitions:
    needs = {"required_resource_keys": {names.resource}}

    @op(name=names("cut_over"), description="Serve an entity from Postgres, if every gate and the shadow reads pass.",
        **needs)  # fmt: skip
    def cut_over_op(context: OpExecutionContext, config: CutoverConfig) -> None:
        runtime = instance_resource(context, names).step_runtime(spec)
        try:
            previous, flag = cut_over(
                BackendFlags(runtime.db, spec),
                config.entity,
                reason=config.reason,
                actor=f"dagster run {context.run_id}",
            )
        except (CutoverRefused, UnknownTable) as refused:
            raise Failure(str(refused)) from None
        context.log.info(f"{flag.entity}: {previous} → {flag.stored}")

    @op(name=names("roll_back"), description="Serve an entity from Airtable again, after pushing its every write.",
        **needs)  # fmt: skip
    def roll_back_op(context: OpExecutionContext, config: RollbackConfig) -> None:
        runtime = instance_resource(context, names).step_runtime(spec)
        try:
            report = rollback(
                BackendFlags(runtime.db, spec),
                runtime.pusher(),
                config.entity,
                reason=config.reason,
                timeout_seconds=config.timeout_seconds,
                accept_dead_letters=config.accept_dead_letters,
                actor=f"dagster run {context.run_id}",
                on_progress=context.log.info,
            )
        except (RollbackRefused, UnknownTable) as refused:
            raise Failure(str(refused)) from None
        context.log.info(
            f"{report.entity}: {report.previous_mode} → airtable; pushed {report.pushed_before} first and "
            f"{report.pushed_after} meanwhile; {report.pending_after} still pending"
        )

    @job(name=names(CUTOVER_JOB), executor_def=SYNC_EXECUTOR)
    def cutover_entity() -> None:
        cut_over_op()

    @job(name=names(ROLLBACK_JOB), executor_def=SYNC_EXECUTOR)
    def rollback_entity() -> None:
        roll_back_op()

    return Definitions(jobs=[cutover_entity, rollback_entity])
