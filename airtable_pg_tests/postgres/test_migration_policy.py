"""Migrations are a deploy step: every one downgrades one step, and the runtime refuses a database behind the code."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context, materialize

from airtable_pg import cli
from airtable_pg.defs.assets import build_table_assets
from airtable_pg.defs.cutover import build_readiness_sensor
from airtable_pg.defs.outbound import DISCARD_JOB, PUSH_JOB, REPLAY_JOB, build_outbound_definitions
from airtable_pg.defs.polls import build_computed_refresh_sensors, build_poll_sensors
from airtable_pg.defs.webhooks import build_webhook_definitions
from airtable_pg.postgres.database import libpq_url
from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, downgrade, upgrade
from airtable_pg.postgres.revisions import (
    REVISIONS_FUNCTION,
    MigrationsPending,
    at_code_heads,
    database_revisions,
    pending_heads,
    reached,
    require_migrated,
    script_directory,
)
from airtable_pg.spec import load_spec
from airtable_pg_tests.dagster_resources import runtime_resources

SPEC = load_spec()
SCRIPT = script_directory(DEMO_VERSIONS)


def snapshot(url: str) -> list[tuple]:
    """Every column, index and constraint of the managed schemas: what a migration changes."""
    with psycopg.connect(libpq_url(url)) as conn:
        columns = conn.execute(
            "select table_schema, table_name, column_name, data_type, is_nullable, column_default "
            "from information_schema.columns where table_schema in ('airtable', 'airtable_sync') order by 1, 2, 3"
        ).fetchall()
        indexes = conn.execute(
            "select schemaname, indexname, indexdef from pg_indexes "
            "where schemaname in ('airtable', 'airtable_sync') order by 1, 2"
        ).fetchall()
        triggers = conn.execute(
            "select event_object_schema, event_object_table, trigger_name, event_manipulation "
            "from information_schema.triggers where event_object_schema = 'airtable' order by 1, 2, 3, 4"
        ).fetchall()
        return columns + indexes + triggers


def branch_chain(branch: str) -> list[str]:
    """The branch's own revisions from its head down to its first (not the other branch's it depends on)."""
    head = next(h for h in SCRIPT.get_heads() if _own_labels(h) == {branch})
    chain, name = [], head
    while name is not None:
        chain.append(name)
        parent = SCRIPT.get_revision(name).down_revision
        name = parent if isinstance(parent, str) or parent is None else parent[0]
    return chain


def _own_labels(head: str) -> set[str]:
    labels, name = set(), head
    while name is not None:
        revision = SCRIPT.get_revision(name)
        labels |= set(revision.branch_labels or ())
        name = revision.down_revision if isinstance(revision.down_revision, str) else None
    return labels


@pytest.mark.parametrize("branch", ["state", "mirror"])
def test_every_migration_downgrades_one_step_and_upgrades_again(new_database: Callable[[str], str], branch: str):
    url = new_database("downgrade")
    config = alembic_config(url, versions=DEMO_VERSIONS)
    upgrade(config)
    chain = branch_chain(branch)
    assert len(chain) >= 1 and at_code_heads(SCRIPT, database_revisions(url))
    at_heads = snapshot(url)
    for revision, parent in zip(chain, [*chain[1:], None], strict=True):
        above, above_versions = snapshot(url), database_revisions(url)
        downgrade(config, parent or f"{branch}@base")  # one step: to the parent (explicit: the branches depend)
        assert revision not in reached(SCRIPT, database_revisions(url))
        assert parent is None or parent in reached(SCRIPT, database_revisions(url))
        below = snapshot(url)
        assert below != above, f"downgrading {revision} changed nothing"
        for version in above_versions:  # back up to where it was (a dependent downgraded with it comes back too)
            upgrade(config, version)
        assert snapshot(url) == above, revision
        downgrade(config, parent or f"{branch}@base")
        assert snapshot(url) == below, revision
    upgrade(config)
    assert snapshot(url) == at_heads and at_code_heads(SCRIPT, database_revisions(url))


@pytest.fixture(scope="module")
def behind_url(new_database: Callable[[str], str]) -> str:
    """A database with the state schema but not the mirror tables: the code's mirror head is missing."""
    url = new_database("behind")
    upgrade(alembic_config(url, versions=DEMO_VERSIONS), "state@head")
    return url


def test_require_migrated_names_the_missing_heads_and_the_command(behind_url: str):
    with pytest.raises(MigrationsPending) as refused:
        require_migrated(behind_url, DEMO_VERSIONS)
    message = str(refused.value)
    (mirror_head,) = (h for h in SCRIPT.get_heads() if "mirror" in _labels(h))
    assert f"mirror head {mirror_head}" in message and "`airtable-pg db upgrade`" in message
    assert "state head" not in message and "\n" not in message


def test_once_current_the_check_is_not_repeated_in_the_process(new_database: Callable[[str], str]):
    url = new_database("checked_once")
    upgrade(alembic_config(url, versions=DEMO_VERSIONS))
    require_migrated(url, DEMO_VERSIONS)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f"drop function {REVISIONS_FUNCTION}()")
    require_migrated(url, DEMO_VERSIONS)  # cached: no second query (it would now find nothing applied)
    assert database_revisions(url) == frozenset()


def _labels(head: str) -> set[str]:
    return {label for revision in SCRIPT.iterate_revisions(head, "base") for label in revision.branch_labels}


def test_a_database_ahead_of_the_code_is_accepted_and_one_behind_is_not():
    heads = frozenset(SCRIPT.get_heads())
    assert pending_heads(SCRIPT, heads) == []
    (state_head,) = (h for h in heads if _labels(h) == {"state"})  # the mirror head depends on the state branch
    (mirror_head,) = heads - {state_head}
    # A newer release migrated the state branch past this code's head (rolling deploy: migrate, then roll out).
    assert pending_heads(SCRIPT, frozenset({mirror_head, "0099_from_a_newer_release"})) == []
    # An older state revision: behind, whatever else is there (the mirror at its head, a newer release's row).
    older_state = SCRIPT.get_revision(state_head).down_revision
    assert pending_heads(SCRIPT, frozenset({mirror_head, older_state})) == [state_head]
    assert pending_heads(SCRIPT, frozenset({mirror_head, older_state, "0099_from_a_newer_release"})) == [state_head]
    assert pending_heads(SCRIPT, frozenset()) == sorted(heads)


@pytest.mark.parametrize(
    "argv",
    [
        ["sync", "--full"],
        ["webhooks", "apply"],
        ["receiver", "--port", "0"],
        ["checks", "run"],
        ["cutover", "status"],
        ["outbound", "run"],
        ["outbound", "status"],
        ["dlq", "list"],
        ["dlq", "replay", "--all"],
    ],
)
def test_runtime_commands_refuse_a_database_behind_the_code(
    behind_url: str, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
):
    monkeypatch.setenv("DATABASE_URL", behind_url)
    monkeypatch.setenv("AIRTABLE_API_KEY", "patNeverUsed.0000")
    monkeypatch.setenv("AIRTABLE_API_URL", "http://127.0.0.1:9")  # nothing may reach Airtable either
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    assert cli.main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "behind this release" in line]
    assert len(errors) == 1 and "run `airtable-pg db upgrade`" in errors[0], errors
    assert REVISIONS_FUNCTION and not database_revisions(behind_url) >= frozenset(SCRIPT.get_heads())


def test_db_upgrade_is_the_way_forward(new_database: Callable[[str], str], monkeypatch, capsys, tmp_path):
    url = new_database("forward")
    upgrade(alembic_config(url, versions=DEMO_VERSIONS), "state@0003")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    with pytest.raises(MigrationsPending):
        require_migrated(url, DEMO_VERSIONS)
    assert cli.main(["db", "upgrade"]) == 0
    require_migrated(url, DEMO_VERSIONS)


def test_the_code_locations_runs_and_sensor_refuse_a_database_behind_the_code(behind_url: str):
    resources = runtime_resources("http://127.0.0.1:9", "patNeverUsed.0000", behind_url)
    programs = next(a for a in build_table_assets(SPEC) if a.key.path[-1] == "programs")
    result = materialize(
        [programs],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "airtable-pg db upgrade" in failure.step_failure_data.error.message

    (sensor,) = build_webhook_definitions(SPEC).sensors
    with build_sensor_context(
        resources=resources,
        instance=DagsterInstance.ephemeral(),
    ) as context:
        skipped = sensor(context)
    assert "airtable-pg db upgrade" in skipped.skip_message


def test_the_code_locations_outbound_poll_and_cutover_refuse_a_database_behind_the_code(behind_url: str):
    """The outbox lives in the state schema, so without the gate these would run on a database missing the mirror."""
    resources = runtime_resources("http://127.0.0.1:9", "patNeverUsed.0000", behind_url)
    instance = DagsterInstance.ephemeral()
    outbound = build_outbound_definitions(SPEC)
    jobs, outbound_sensors = outbound.jobs, outbound.sensors
    sensors = [
        *outbound_sensors,
        *build_poll_sensors(SPEC),
        *build_computed_refresh_sensors(SPEC),
        build_readiness_sensor(SPEC),
    ]
    for sensor in sensors:
        with build_sensor_context(resources=resources, instance=instance) as context:
            skipped = sensor(context)
        assert isinstance(skipped, SkipReason), sensor.name
        assert "airtable-pg db upgrade" in (skipped.skip_message or ""), sensor.name
    run_config = {
        PUSH_JOB: {},
        REPLAY_JOB: {"ops": {"replay_dead_letters": {"config": {"all": True}}}},
        DISCARD_JOB: {"ops": {"discard_dead_letter": {"config": {"id": 1, "reason": "never reached"}}}},
    }
    for job in jobs:
        result = job.execute_in_process(
            run_config=run_config[job.name], instance=instance, resources=resources, raise_on_error=False
        )
        assert not result.success, job.name
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "airtable-pg db upgrade" in failure.step_failure_data.error.message, job.name
