"""The archive in Dagster: the backlog sensor asks for a run, the asset copies and reports, the check blocks, purge."""

from __future__ import annotations

from pathlib import Path

from dagster import (
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_asset_check_context,
    build_sensor_context,
)

from airtable_pg.defs.archive import ARCHIVE_JOB, BACKLOG_SENSOR, CHECK_NAME, PURGE_JOB, build_archive_definitions
from airtable_pg.defs.build import build_defs
from airtable_pg.defs.names import RESOURCE
from airtable_pg.defs.resources import AirtablePgResource
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg.spec import load_spec
from airtable_pg_tests.archive.test_archive import full_sync, state

SPEC = load_spec()


def test_the_backlog_sensor_asks_for_a_run_whose_asset_reports_counts_and_whose_check_passes(
    sandbox, database_url: str, tmp_path: Path
) -> None:
    resource = AirtablePgResource(
        airtable_api_key=sandbox.token,
        database_url=database_url,
        migrations_path=str(DEMO_VERSIONS),
        settings={"AIRTABLE_API_URL": sandbox.url, "AIRTABLE_PG_RATE_LIMIT": "50",
                  "AIRTABLE_PG_ARCHIVE_URL": str(tmp_path / "archive")},
    )  # fmt: skip
    resources = {RESOURCE: resource}
    defs = build_archive_definitions(SPEC)
    (sensor,) = defs.sensors
    jobs = {j.name: j for j in defs.jobs}
    assert sensor.name == BACKLOG_SENSOR and set(jobs) == {ARCHIVE_JOB, PURGE_JOB}
    instance = DagsterInstance.ephemeral()

    def tick():
        with build_sensor_context(instance=instance, resources=resources) as context:
            return sensor(context)

    assert isinstance(tick(), SkipReason)  # an empty mirror holds no attachment
    full_sync(sandbox, database_url)
    request = tick()
    live = [row for row in state(database_url).values() if row["tombstoned_at"] is None]
    assert isinstance(request, RunRequest) and request.tags["airtable_pg/archive_backlog"] == str(len(live))

    whole = build_defs()  # wired through build_defs: the job there is the same one
    result = whole.get_job_def(ARCHIVE_JOB).execute_in_process(instance=instance, resources=resources)
    assert result.success
    (materialization,) = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert materialization.asset_key.path == ["archive", "coaching", "attachments"]
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["live"] == metadata["archived"] == metadata["copied_now"] == len(live)
    assert metadata["backlog"] == metadata["failed"] == 0 and metadata["archived_bytes"] > 0
    (check,) = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert check.check_name == CHECK_NAME and check.passed
    assert isinstance(tick(), SkipReason)

    assert whole.get_job_def(PURGE_JOB).execute_in_process(instance=instance, resources=resources).success


def test_the_check_fails_while_an_attachment_has_no_verified_copy(sandbox, database_url: str, tmp_path: Path) -> None:
    resource = AirtablePgResource(
        airtable_api_key=sandbox.token,
        database_url=database_url,
        migrations_path=str(DEMO_VERSIONS),
        settings={"AIRTABLE_API_URL": sandbox.url, "AIRTABLE_PG_ARCHIVE_URL": str(tmp_path / "archive")},
    )
    full_sync(sandbox, database_url)
    (check,) = build_archive_definitions(SPEC).asset_checks
    result = check(build_asset_check_context(resources={RESOURCE: resource}))
    assert not result.passed and result.metadata["unverified"].value > 0
