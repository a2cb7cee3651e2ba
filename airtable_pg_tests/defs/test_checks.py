"""The cutover gates in Dagster: asset checks on every table asset, run after materializations, blocking
downstream tables on a failed gate, explained in metadata, stored for `cutover status`."""

from __future__ import annotations

from typing import Any

from dagster import (
    AssetCheckSeverity,
    AssetMaterialization,
    DagsterInstance,
    DefaultScheduleStatus,
    ExecuteInProcessResult,
    build_sensor_context,
    materialize,
)
from dagster._core.test_utils import instance_for_test

from airtable_pg.checks.runner import CHECKS
from airtable_pg.definitions import build_definitions
from airtable_pg.defs.assets import build_table_assets
from airtable_pg.defs.checks import (
    FRESHNESS_JOB,
    FRESHNESS_SENSOR,
    GATES_JOB,
    build_freshness_sensor,
    build_table_checks,
)
from airtable_pg.defs.jobs import FULL_SYNC_JOB, INCREMENTAL_SYNC_JOB
from airtable_pg.defs.lineage import table_asset_key
from airtable_pg.postgres.check_results import latest_results
from airtable_pg.postgres.database import connection_pool
from airtable_pg.spec import load_spec
from airtable_pg_tests.dagster_resources import runtime_resources
from airtable_pg_tests.sync_helpers import admin, make_sync_engine
from airtable_sandbox.demo_project import DEMO_SPEC
from airtable_sandbox.server import Sandbox

DEMO = load_spec(str(DEMO_SPEC))
BASE = DEMO.bases["coaching"]


def run_resources(sandbox: Sandbox, database_url: str) -> dict[str, Any]:
    return runtime_resources(sandbox.url, sandbox.token, database_url, requests_per_second=100.0)


def check_results(result: ExecuteInProcessResult) -> dict[tuple[str, str], Any]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_every_table_asset_has_every_gate_blocking():
    graph = build_definitions(DEMO).resolve_asset_graph()
    for base, table in DEMO.tables():
        keys = {k for k in graph.asset_check_keys if k.asset_key == table_asset_key(base.key, table.key)}
        assert {k.name for k in keys} == set(CHECKS), table.key
    specs = [spec for definition in build_table_checks(DEMO) for spec in definition.check_specs]
    assert len(specs) == len(CHECKS) * len(BASE.tables) and all(spec.blocking for spec in specs)
    assert all(spec.description for spec in specs)
    assert "never lost" in next(s.description for s in specs if s.name == "schema_drift")


def test_jobs_and_schedules_run_the_gates():
    defs = build_definitions(DEMO)
    names = {
        job: {k.name for k in defs.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys}
        for job in (FULL_SYNC_JOB, INCREMENTAL_SYNC_JOB, GATES_JOB, FRESHNESS_JOB)
    }
    assert names[FULL_SYNC_JOB] == names[GATES_JOB] == set(CHECKS)
    assert names[INCREMENTAL_SYNC_JOB] == set(CHECKS) - {"reconcile_counts"}  # records / 100 requests: not per poll
    assert names[FRESHNESS_JOB] == {"freshness"}
    crons = {s.job_name: s.cron_schedule for s in defs.schedules}
    # freshness: a sensor evaluates it without a run; the archive's purge has its own daily schedule (defs.archive);
    # the latency baseline reads Airtable, so its weekly schedule starts stopped (defs.baseline)
    assert crons == {GATES_JOB: "0 3 * * *", "archive_purge": "17 3 * * *", "latency_baseline": "23 4 * * 1"}
    baseline = next(s for s in defs.schedules if s.job_name == "latency_baseline")
    assert baseline.default_status == DefaultScheduleStatus.STOPPED
    assert defs.resolve_sensor_def(FRESHNESS_SENSOR).minimum_interval_seconds == 300


def test_the_freshness_sensor_evaluates_every_table_without_a_run(sandbox, database_url):
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_table("coaching", "users")  # the others were never synced: not fresh
    sensor = build_freshness_sensor(DEMO)
    with instance_for_test() as instance:
        users_key = table_asset_key("coaching", "users")
        instance.report_runless_asset_event(AssetMaterialization(users_key))
        with build_sensor_context(instance=instance, resources=run_resources(sandbox, database_url)) as context:
            result = sensor(context)
        assert not result.run_requests and not instance.get_runs()
        verdicts = {e.asset_key.path[-1]: e for e in result.asset_events}
        assert set(verdicts) == set(BASE.tables) and {e.check_name for e in verdicts.values()} == {"freshness"}
        assert verdicts["users"].passed and not verdicts["programs"].passed
        latest = instance.fetch_materializations(users_key, limit=1).records[0]
        assert verdicts["users"].target_materialization_data.storage_id == latest.storage_id
        assert result.skip_reason.skip_message.startswith("freshness evaluated: stale: coaching.")
    stored = {(r.table_id, r.check): r.passed for r in latest_results(connection_pool(database_url))}
    assert stored[(BASE.tables["users"].id, "freshness")] is True  # for `cutover status` too


def test_materializing_runs_the_gates_explains_them_and_stores_them(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=60)
    result = materialize(
        [*build_table_assets(DEMO), *build_table_checks(DEMO)],
        resources=run_resources(sandbox, database_url),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    evaluations = check_results(result)
    assert len(evaluations) == len(CHECKS) * len(BASE.tables)
    for (table, check), evaluation in evaluations.items():
        assert evaluation.passed, f"{table} {check}: {evaluation.metadata['reason'].value}"
        assert {"reason", "requests", "seconds", "failing_ids", "details"} <= set(evaluation.metadata)
    counts = evaluations[("users", "reconcile_counts")].metadata
    assert counts["airtable_count"].value == counts["postgres_count"].value > 0
    assert counts["requests"].value >= 1
    stored = latest_results(connection_pool(database_url))
    assert len(stored) == len(evaluations) and all(r.passed for r in stored)
    assert all(sandbox.token not in repr(event) for event in result.all_events)


def test_a_failed_gate_blocks_downstream_tables_and_names_the_field(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=40)
    users = BASE.tables["users"]
    added = admin(sandbox, "POST", f"bases/{BASE.id}/tables/{users.id}/fields", json={
        "name": "nickname", "type": "singleLineText",
    })  # fmt: skip
    users_key, goals_key = table_asset_key("coaching", "users"), table_asset_key("coaching", "personal_goals")
    assets = [a for a in build_table_assets(DEMO) if a.key in {users_key, goals_key}]
    checks = [c for c in build_table_checks(DEMO) if {k.asset_key for k in c.check_keys} <= {users_key}]
    result = materialize(
        [*assets, *checks],
        resources=run_resources(sandbox, database_url),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
        selection=[users_key, goals_key],
    )
    drift = check_results(result)[("users", "schema_drift")]
    assert not drift.passed and drift.severity == AssetCheckSeverity.ERROR
    assert drift.metadata["failing_ids"].value == [added["id"]]
    assert "airtable-pg spec pull" in drift.metadata["reason"].value
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert users_key in materialized and goals_key not in materialized  # the gate held the downstream table back
