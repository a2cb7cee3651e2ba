"""The safety poll: per-table sensors, run by Dagster's own daemon, heal a change no webhook delivered.

The daemon test starts ``dagster-daemon run`` on the real code location (``airtable_pg.definitions``) against a
tmp Dagster instance (SQLite storage, the queued run coordinator), the session's Postgres and a sandbox; no
webhook applier runs, so a user created in Airtable reaches Postgres only if the users' poll sensor ticks, its
run is dequeued and launched, and the incremental sync finds the record.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorResult,
    SkipReason,
    build_sensor_context,
)
from dagster._core.test_utils import create_run_for_test, instance_for_test

from airtable_pg.checks.runner import CHECKS
from airtable_pg.defs.checks import FULL_SYNC_ONLY
from airtable_pg.defs.lineage import table_asset_key
from airtable_pg.defs.names import RESOURCE
from airtable_pg.defs.polls import (
    PRIORITY_TAG,
    SYNC_TAG,
    TABLE_TAG,
    TRIGGER_TAG,
    build_computed_refresh_sensors,
    build_poll_sensors,
    poll_sensor_name,
    refresh_sensor_name,
)
from airtable_pg.defs.resources import AirtablePgResource
from airtable_pg.postgres.database import libpq_url
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg.spec import SyncSpec, load_spec
from airtable_pg_tests.dagster_resources import runtime_resource
from airtable_pg_tests.sync_helpers import make_sync_engine
from airtable_sandbox.demo_project import DEMO_SPEC
from airtable_sandbox.pytest_plugin import airtable_api_for

REPO = Path(__file__).resolve().parents[2]
SPEC = load_spec(DEMO_SPEC)
BASE = SPEC.bases["coaching"]
USERS = BASE.tables["users"]
USERS_KEY = table_asset_key("coaching", "users")
HEAL_SECONDS = 240  # daemon start, the first tick, dequeue, a run worker's imports, the sync: on a busy machine
FAST_POLL_SECONDS = 5


def engine_resource(sandbox, database_url: str) -> AirtablePgResource:
    return runtime_resource(sandbox.url, sandbox.token, database_url)


def users_sensor():
    sensors = build_poll_sensors(SPEC, costly_checks=FULL_SYNC_ONLY)
    return next(s for s in sensors if s.name == poll_sensor_name(BASE, USERS))


def age_runs(database_url: str, *, seconds: int, kind: str | None = None) -> None:
    """Pretend the table's runs (of ``kind``, else all) finished ``seconds`` earlier than they did."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "update airtable_sync.sync_run set finished_at = finished_at - make_interval(secs => %s) "
            "where %s::text is null or kind = %s",
            (seconds, kind, kind),
        )


def evaluate(sensor, instance: DagsterInstance, resource: AirtablePgResource):
    with build_sensor_context(instance=instance, resources={RESOURCE: resource}) as context:
        return sensor(context)


def test_poll_requests_an_incremental_run_tagged_with_its_trigger_and_never_piles_up(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=10)
    resource = engine_resource(sandbox, database_url)
    sensor = users_sensor()
    assert sensor.minimum_interval_seconds == USERS.poll_interval_seconds == 60
    with instance_for_test() as instance:
        never_synced = evaluate(sensor, instance, resource)
        assert isinstance(never_synced, SkipReason) and "never fully synced" in never_synced.skip_message

        with make_sync_engine(sandbox, database_url, workers=2) as engine:
            engine.sync_table("coaching", "users", "full")
        just_synced = evaluate(sensor, instance, resource)
        # "synced 0 s ago", or 1–2 s on a loaded machine: the tick skips because the table was just synced
        assert isinstance(just_synced, SkipReason) and re.search(r"synced \d s ago", just_synced.skip_message)
        age_runs(database_url, seconds=31)  # half the users' 60 s interval: a poll is due
        served = sandbox.stats()["bases"][BASE.id]["served"]
        quiet = evaluate(sensor, instance, resource)  # nothing changed in Airtable: no run, a recorded poll
        assert isinstance(quiet, SensorResult) and not quiet.run_requests
        assert quiet.skip_reason.skip_message.startswith("nothing changed in coaching.users since ")
        [observation] = quiet.asset_events
        assert observation.asset_key == USERS_KEY and observation.metadata["mode"].value == "poll"
        assert sandbox.stats()["bases"][BASE.id]["served"] == served + 1  # one request, the poll's first page
        just_polled = evaluate(sensor, instance, resource)
        assert isinstance(just_polled, SkipReason) and re.search(r"synced \d s ago", just_polled.skip_message)

        first = sorted(airtable_api_for(sandbox).table(BASE.id, USERS.id).all(), key=lambda r: r["id"])[0]
        airtable_api_for(sandbox).table(BASE.id, USERS.id).update(first["id"], {"fldUsrNotes000000": "changed"})
        age_runs(database_url, seconds=31)
        request = evaluate(sensor, instance, resource)
        assert isinstance(request, RunRequest)
        assert request.tags[TRIGGER_TAG] == "poll" and request.tags[TABLE_TAG] == "coaching.users"
        assert request.tags[PRIORITY_TAG] == "10"  # the fast lane leaves the run queue first
        assert request.run_config == {"ops": {"airtable__coaching__users": {"config": {"mode": "incremental"}}}}
        # The table and its gates, except the costly count reconciliation (full syncs and nightly only).
        assert request.asset_selection == [USERS_KEY]
        assert {key.name for key in request.asset_check_keys} == set(CHECKS) - FULL_SYNC_ONLY

        queued = create_run_for_test(
            instance, job_name="__ASSET_JOB", tags=request.tags, status=DagsterRunStatus.STARTED
        )
        skipped = evaluate(sensor, instance, resource)
        assert isinstance(skipped, SkipReason) and "still" in skipped.skip_message
        instance.report_run_canceled(queued)
        assert isinstance(evaluate(sensor, instance, resource), RunRequest)


def spec_with(tmp_path: Path, change) -> SyncSpec:
    raw = yaml.safe_load(DEMO_SPEC.read_text(encoding="utf-8"))
    change(raw["bases"]["coaching"]["tables"])
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_spec(path)


def reads_the_clock(tables) -> None:
    """users.full_name as if its formula called NOW(): the clock moves it, so it refreshes on every interval."""
    tables["users"]["fields"]["fldUsrFullName000"]["changes_with"] = ["time"]


def forget_dependencies(tables) -> None:
    """A spec pulled before `changes_with` existed: what moves the users' computed cells is not known."""
    for field in tables["users"]["fields"].values():
        field.pop("changes_with", None)


@pytest.mark.parametrize("variant", ["reads the clock", "dependencies not in the spec"])
def test_computed_cells_the_clock_moves_are_refreshed_on_their_own_schedule(
    sandbox_factory, database_url, tmp_path, variant
):
    spec = spec_with(tmp_path, reads_the_clock if variant == "reads the clock" else forget_dependencies)
    sandbox = sandbox_factory(demo_records=10)
    refreshes = {s.name: s for s in build_computed_refresh_sensors(spec)}
    users = refreshes[refresh_sensor_name(BASE, USERS)]
    assert users.minimum_interval_seconds == 900  # the fast lane: every 15 minutes
    assert refreshes[refresh_sensor_name(BASE, BASE.tables["programs"])].minimum_interval_seconds == 3600
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_table("coaching", "users", "full")
        engine.sync_table("coaching", "users", "incremental")
    age_runs(database_url, seconds=600, kind="full")  # a poll does not refresh every computed cell
    with instance_for_test() as instance:
        polled_recently = evaluate(users, instance, engine_resource(sandbox, database_url))
        assert isinstance(polled_recently, RunRequest)
        age_runs(database_url, seconds=300, kind="full")
        with make_sync_engine(sandbox, database_url, workers=2) as engine:
            engine.sync_table("coaching", "users", "computed")
        assert isinstance(evaluate(users, instance, engine_resource(sandbox, database_url)), SkipReason)
        age_runs(database_url, seconds=451)  # half of 15 minutes
        request = evaluate(users, instance, engine_resource(sandbox, database_url))
    assert isinstance(request, RunRequest)
    assert request.tags[TRIGGER_TAG] == "computed_refresh" and request.tags[SYNC_TAG] == "computed"
    assert request.run_config == {"ops": {"airtable__coaching__users": {"config": {"mode": "computed"}}}}


def test_a_refresh_waits_for_a_change_in_the_tables_its_computed_cells_read(sandbox_factory, database_url):
    """users' goal_count, minutes_practiced_total and goal_progress read personal_goals (the spec's changes_with):
    an idle base costs no refresh, and a goal's change brings the users' refresh on the next tick."""
    assert [t.key for t in BASE.computed_refresh_watch(USERS)] == ["personal_goals"]
    sandbox = sandbox_factory(demo_records=10)
    users = next(s for s in build_computed_refresh_sensors(SPEC) if s.name == refresh_sensor_name(BASE, USERS))
    goals = BASE.tables["personal_goals"]
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_table("coaching", "personal_goals", "full")
        engine.sync_table("coaching", "users", "full")
    age_runs(database_url, seconds=3600)
    with instance_for_test() as instance:
        served = sandbox.stats()["bases"][BASE.id]["served"]
        idle = evaluate(users, instance, engine_resource(sandbox, database_url))
        assert isinstance(idle, SkipReason), idle
        assert idle.skip_message.startswith("nothing coaching.users's computed cells read changed since")
        assert "(personal_goals)" in idle.skip_message
        assert sandbox.stats()["bases"][BASE.id]["served"] == served  # Postgres alone answered

        goal = airtable_api_for(sandbox).table(BASE.id, goals.id).first()
        airtable_api_for(sandbox).table(BASE.id, goals.id).update(goal["id"], {"fldGolTimeSpent00": 999})
        with make_sync_engine(sandbox, database_url, workers=2) as engine:
            engine.sync_table("coaching", "personal_goals", "incremental")  # the poll (or a webhook) applies it
        age_runs(database_url, seconds=3600)
        request = evaluate(users, instance, engine_resource(sandbox, database_url))
    assert isinstance(request, RunRequest), request
    assert request.tags[TRIGGER_TAG] == "computed_refresh"


@pytest.fixture
def fast_poll_spec(tmp_path: Path) -> Path:
    """The demo spec with the users polled every few seconds, so a test sees several ticks."""
    raw = yaml.safe_load(DEMO_SPEC.read_text(encoding="utf-8"))
    raw["bases"]["coaching"]["tables"]["users"]["poll_interval_seconds"] = FAST_POLL_SECONDS
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def user_row(database_url: str, record_id: str) -> tuple | None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(
            "select name, email from airtable.users where airtable_id = %s and deleted_at is null", (record_id,)
        ).fetchone()


def test_a_user_no_webhook_delivered_is_healed_by_the_poll_sensor_under_the_daemon(
    sandbox_factory, database_url, fast_poll_spec: Path, tmp_path: Path
):
    sandbox = sandbox_factory(demo_records=20)
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_table("coaching", "users", "full")  # the other tables stay unsynced: their polls skip
    # Created in Airtable while no webhook applier runs: the notification is as good as dropped.
    created = (
        airtable_api_for(sandbox)
        .table(BASE.id, USERS.id)
        .create({"fldUsrName0000000": "Polly Poll", "fldUsrEmail000000": "polly@example.com"})
    )
    assert user_row(database_url, created["id"]) is None

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
        "  config:\n    dequeue_interval_seconds: 1\ntelemetry:\n  enabled: false\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE_", "DAGSTER_"))}
    env |= {
        "DAGSTER_HOME": str(home),
        "DATABASE_URL": database_url,
        "AIRTABLE_API_KEY": sandbox.token,
        "AIRTABLE_API_URL": sandbox.url,
        "AIRTABLE_PG_SPEC": str(fast_poll_spec),
        # The test's spec is the demo's with other intervals: its mirror tables are the demo's migrations.
        "AIRTABLE_PG_MIGRATIONS": str(DEMO_VERSIONS),
        "PYTHONPATH": str(REPO),
    }
    log = tmp_path / "daemon.log"
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    with log.open("wb") as sink:
        daemon = subprocess.Popen(
            [str(daemon_bin), "run", "-m", "airtable_pg.definitions"],
            cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + HEAL_SECONDS
        while user_row(database_url, created["id"]) is None:
            assert daemon.poll() is None, log.read_text(errors="replace")[-5000:]
            if time.monotonic() > deadline:
                pytest.fail(f"the poll sensor did not heal the user in {HEAL_SECONDS} s:\n{_tail(log)}")
            time.sleep(1)
        assert user_row(database_url, created["id"]) == ("Polly Poll", "polly@example.com")

        with DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs(RunsFilter(tags={TRIGGER_TAG: "poll", TABLE_TAG: "coaching.users"}))
            assert runs, "the row arrived, but not through a poll run"
            ticks = _ticks(instance, poll_sensor_name(BASE, USERS))
            assert any(tick.run_ids for tick in ticks), "the sensor's ticks and their runs are recorded for the UI"
            # Other tables were never synced: their sensors ticked and skipped, launching nothing.
            assert not instance.get_runs(RunsFilter(tags={TABLE_TAG: "coaching.programs"}))
            _wait_for_success(instance, runs)
    finally:
        os.killpg(daemon.pid, 15)
        daemon.wait(timeout=60)


def _ticks(instance: DagsterInstance, sensor_name: str) -> list:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == sensor_name]
    assert states, f"no state for sensor {sensor_name}"
    return list(instance.get_ticks(states[0].instigator_origin_id, states[0].selector_id))


def _wait_for_success(instance: DagsterInstance, runs: list) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = {instance.get_run_by_id(run.run_id).status for run in runs}
        if DagsterRunStatus.SUCCESS in statuses:
            return
        time.sleep(1)
    pytest.fail(f"no poll run succeeded: {statuses}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-5000:]
