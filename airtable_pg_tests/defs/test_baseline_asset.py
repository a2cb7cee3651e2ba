"""The latency baseline as a Dagster asset: each materialization records both backends' figures per endpoint."""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance, RunConfig

from airtable_pg.defs.baseline import BASELINE_JOB, LatencyBaselineConfig
from airtable_pg.defs.build import build_defs
from airtable_pg.defs.names import RESOURCE
from airtable_pg.defs.resources import AirtablePgResource
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg_tests.sync_helpers import make_sync_engine


def test_each_run_records_p50_p95_of_both_backends_and_the_delta_per_endpoint(
    sandbox_factory, database_url: str
) -> None:
    sandbox = sandbox_factory(demo_records=40, latency_ms=60)
    with make_sync_engine(sandbox, database_url) as engine:
        engine.sync_tables("full", [("coaching", "users"), ("coaching", "personal_goals")])
    resource = AirtablePgResource(
        airtable_api_key=sandbox.token,
        database_url=database_url,
        migrations_path=str(DEMO_VERSIONS),
        settings={"AIRTABLE_API_URL": sandbox.url, "AIRTABLE_PG_RATE_LIMIT": "50"},
    )
    config = RunConfig(ops={"cutover__latency_baseline": LatencyBaselineConfig(entities=["users"], reads=3, rate=20)})
    instance = DagsterInstance.ephemeral()
    job = build_defs().resolve_job_def(BASELINE_JOB)
    for _ in range(2):  # two points of each plot
        result = job.execute_in_process(run_config=config, instance=instance, resources={RESOURCE: resource})
        assert result.success
    materializations = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert [m.asset_key.path for m in materializations] == [["cutover", "latency_baseline"]]
    metadata = {key: value.value for key, value in materializations[0].metadata.items()}
    for endpoint in ("list first page", "get one record", "personal_goals of one record"):
        figures = {name: metadata[f"coaching.users {endpoint}: {name}"] for name in ("airtable_p50_ms",
                   "airtable_p95_ms", "postgres_p50_ms", "postgres_p95_ms", "p95_delta_ms")}  # fmt: skip
        assert figures["airtable_p50_ms"] >= 60 and figures["postgres_p50_ms"] > 0, figures  # the sandbox's 60 ms
        assert figures["p95_delta_ms"] == round(figures["postgres_p95_ms"] - figures["airtable_p95_ms"], 2)
        assert f"| coaching.users | {endpoint} |" in metadata["baseline"]
    assert metadata["worst_p95_delta_ms"] == max(
        metadata[f"coaching.users {endpoint}: p95_delta_ms"]
        for endpoint in ("list first page", "get one record", "personal_goals of one record")
    )
    history = instance.fetch_materializations(materializations[0].asset_key, limit=10).records
    assert len(history) == 2  # the UI plots each figure across these
