"""Cutover and rollback from the Dagster UI: the same steps as the commands, the run named in the audit trail."""

from __future__ import annotations

from dagster import DagsterEventType, Definitions
from dagster._core.test_utils import instance_for_test

from airtable_pg.defs.cutover_jobs import build_cutover_jobs
from airtable_pg.postgres.backend_flags import flag_history
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing import BackendFlags
from airtable_pg.spec import load_spec
from airtable_pg_tests.dagster_resources import runtime_resources
from airtable_pg_tests.sync.outbound_helpers import BELIEFS, airtable_records_with_key, app_sql

SPEC = load_spec()
INSERT_BELIEF = (
    "insert into airtable.persoonlijke_overtuigingen (omschrijving, status) values (%s, %s) returning id::text"
)


def test_the_rollback_job_pushes_every_write_then_flips_and_the_cutover_job_refuses_without_gates(
    sandbox, database_url
) -> None:
    resources = runtime_resources(sandbox.url, sandbox.token, database_url)
    defs = Definitions.merge(build_cutover_jobs(SPEC), Definitions(resources=resources))
    flags = BackendFlags(connection_pool(database_url), SPEC, environ={})
    flags.set("persoonlijke_overtuigingen", "postgres_primary", reason="cut", force=True)
    written = app_sql(database_url, INSERT_BELIEF, ("Ik mag fouten maken", "nieuw"))[0][0]
    with instance_for_test() as instance:
        rollback = defs.resolve_job_def("rollback_entity")
        config = {"entity": "persoonlijke_overtuigingen", "reason": "drill from the UI"}
        result = rollback.execute_in_process(run_config={"ops": {"roll_back": {"config": config}}}, instance=instance)
        assert result.success
        assert len(airtable_records_with_key(sandbox, BELIEFS, written)) == 1
        assert flags.flag("persoonlijke_overtuigingen").stored == "airtable"
        with transaction(flags.db) as cur:
            [latest, _] = flag_history(cur, "coaching.persoonlijke_overtuigingen", 2)
        assert latest.source == "rollback" and latest.actor == f"dagster run {result.run_id}"

        cutover = defs.resolve_job_def("cutover_entity")
        refused = cutover.execute_in_process(
            run_config={"ops": {"cut_over": {"config": {"entity": "users", "reason": "go"}}}},
            instance=instance,
            raise_on_error=False,
        )
        assert not refused.success
        [failure] = [e for e in refused.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
        assert "coaching.users: gate " in failure.step_failure_data.error.message
        assert flags.flag("users").stored == "airtable"
