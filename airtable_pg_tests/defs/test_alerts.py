"""The alerter's Dagster sensors: the ``alerts`` sensor posts once per incident and records the table assets'
plotted figures without a run; a job's final failure posts one RunFailed message and its next success the recovery."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from dagster import (
    AssetObservation,
    DagsterEventType,
    Definitions,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
    instance_for_test,
    job,
    op,
    sensor,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
    TickData,
    TickStatus,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._utils.error import SerializableErrorInfo

from airtable_pg.defs.alerts import build_alert_definitions
from airtable_pg.defs.names import RESOURCE, Names
from airtable_pg.defs.resources import AirtablePgResource
from airtable_pg.observability.metrics import scrape
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg_tests.observability.state_seed import BASE, PROGRAMS, SPEC, USERS, apply_changes, dead_letter, synced
from airtable_pg_tests.observability.state_seed import execute as sql_rows
from airtable_pg_tests.observability.webhook_sink import WebhookSink

UI = "http://ui.test"


def resources(database_url: str, sink: WebhookSink) -> dict[str, AirtablePgResource]:
    return {RESOURCE: AirtablePgResource(
        airtable_api_key="patNotUsed", database_url=database_url, migrations_path=str(DEMO_VERSIONS),
        settings={"AIRTABLE_API_URL": "http://127.0.0.1:9", "AIRTABLE_PG_ALERT_WEBHOOK_URL": sink.url,
                  "AIRTABLE_PG_UI_URL": UI},
    )}  # fmt: skip


@pytest.fixture
def sink():
    with WebhookSink() as sink:
        yield sink


def sensors():
    return {s.name: s for s in build_alert_definitions(SPEC).sensors}


def test_the_alerts_sensor_posts_once_and_plots_every_table_without_a_run(database_url, sink):
    synced(database_url, PROGRAMS.id, rows=12, ago=timedelta(minutes=1))
    apply_changes(database_url, USERS.id, "webhook", [2.0, 4.0, 6.0])
    dead_letter(database_url)
    alerts = sensors()["alerts"]
    with instance_for_test() as instance:
        with build_sensor_context(instance=instance, resources=resources(database_url, sink)) as context:
            first = alerts(context)
        with build_sensor_context(instance=instance, resources=resources(database_url, sink),
                                  cursor=first.cursor) as context:  # fmt: skip
            second = alerts(context)
        assert not instance.get_runs()
    assert len(sink.messages) == 1 and "FIRING* DeadLettersOpen" in sink.texts()[0]
    assert f"<{UI}/overview/sensors|open in Dagster>" in sink.texts()[0]  # a base's alert: no one asset
    observed = {e.asset_key.path[-1]: e.metadata for e in first.asset_events if isinstance(e, AssetObservation)}
    assert set(observed) == set(BASE.tables)
    assert observed["programs"]["rows"].value == 12
    assert 55 <= observed["programs"]["freshness_age_seconds"].value <= 120
    assert observed["users"]["latency_p50_seconds_15m"].value == pytest.approx(4.0, abs=0.05)
    assert observed["users"]["changes_15m"].value == 3
    assert observed["users"]["dead_letters_open"].value == 1 and observed["users"]["notifications_waiting"].value == 0
    assert all(isinstance(m.value, int | float) for figures in observed.values() for m in figures.values())
    assert second.asset_events == []  # the next minute's tick: figures are recorded every 5 minutes, not per tick
    assert "DeadLettersOpen" not in second.skip_reason.skip_message  # nothing new fired
    assert "1 incident(s) firing" in second.skip_reason.skip_message


@op
def flaky(context) -> None:
    if context.run.tags.get("fail") == "yes":
        raise RuntimeError("Airtable said no")


@job
def import_users() -> None:
    flaky()


def status_context(instance, run, event_type, database_url, sink, name):
    event = next(iter(instance.all_logs(run.run_id, of_type=event_type))).dagster_event
    return build_run_status_sensor_context(sensor_name=name, dagster_event=event, dagster_instance=instance,
                                           dagster_run=run, resources=resources(database_url, sink))  # fmt: skip


def test_a_failed_run_posts_one_message_per_incident_and_its_next_success_the_recovery(database_url, sink):
    on_failure, on_success = sensors()["alert_on_run_failure"], sensors()["resolve_run_failure"]
    with instance_for_test() as instance:
        for _ in range(2):  # the same job fails twice: still one incident, one message
            failed = import_users.execute_in_process(instance=instance, tags={"fail": "yes"}, raise_on_error=False)
            run = instance.get_run_by_id(failed.run_id)
            on_failure(status_context(instance, run, DagsterEventType.RUN_FAILURE, database_url, sink, on_failure.name))
        retried = import_users.execute_in_process(instance=instance, raise_on_error=False,
                                                  tags={"fail": "yes", "dagster/will_retry": "true"})  # fmt: skip
        skipped = on_failure(status_context(instance, instance.get_run_by_id(retried.run_id),
                                            DagsterEventType.RUN_FAILURE, database_url, sink, on_failure.name))
        assert "Dagster retries it" in skipped.skip_message
        assert len(sink.messages) == 1
        first = sink.texts()[0]
        assert "FIRING* RunFailed" in first and "run of import_users failed" in first
        assert f"{UI}/runs/{failed.run_id}" not in first and f"{UI}/runs/" in first  # the first failed run's link
        ok = import_users.execute_in_process(instance=instance)
        on_success(status_context(instance, instance.get_run_by_id(ok.run_id), DagsterEventType.RUN_SUCCESS,
                                  database_url, sink, on_success.name))  # fmt: skip
        on_success(status_context(instance, instance.get_run_by_id(ok.run_id), DagsterEventType.RUN_SUCCESS,
                                  database_url, sink, on_success.name))  # fmt: skip
    assert len(sink.messages) == 2 and "RESOLVED* RunFailed" in sink.texts()[1]
    # Every failed run is a figure of /metrics, the retried one too, each once however often the sensor saw it.
    recorded = sql_rows(database_url, "select job_name, will_retry from airtable_sync.dagster_run_failure order by 2")
    assert recorded == [("import_users", False), ("import_users", False), ("import_users", True)]
    found = scrape(connection_pool(database_url), SPEC).families
    runs = next(f for f in found if f.name == "airtable_pg_dagster_runs_failed")
    assert [(s.labels, s.value) for s in runs.samples] == [({"job": "import_users"}, 3.0)]


def _sensor_state(instance, name: str):
    """A sensor of this repository as the daemon leaves it in the instance: its state, then its ticks."""
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__), location_name="tests")
    origin = RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "__repository__"), name)
    instance.add_instigator_state(
        InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.RUNNING, SensorInstigatorData())
    )

    def tick(status: TickStatus):
        error = SerializableErrorInfo("boom", [], "RuntimeError") if status == TickStatus.FAILURE else None
        return instance.create_tick(TickData(
            instigator_origin_id=origin.get_id(), instigator_name=name, instigator_type=InstigatorType.SENSOR,
            status=status, timestamp=time.time(), selector_id=origin.get_selector().get_id(), error=error,
            run_ids=[] if status == TickStatus.SUCCESS else None,
        ))  # fmt: skip

    return tick


def test_the_alerts_sensor_counts_this_code_locations_failed_sensor_ticks_once(database_url, sink):
    definitions = build_alert_definitions(SPEC)
    with instance_for_test() as instance:
        ours, theirs = _sensor_state(instance, "poll_coaching__users"), _sensor_state(instance, "someone_elses")
        for status in (TickStatus.SKIPPED, TickStatus.FAILURE, TickStatus.FAILURE):
            ours(status)
            theirs(TickStatus.FAILURE)
        mine = Definitions.merge(definitions, Definitions(sensors=[_named_sensor("poll_coaching__users")]))

        def evaluate() -> None:
            with build_sensor_context(instance=instance, resources=resources(database_url, sink), definitions=mine,
                                      repository_name="__repository__") as context:  # fmt: skip
                sensors()["alerts"](context)

        evaluate()
        ticks = "select sensor, failed_ticks, failing from airtable_sync.dagster_sensor_tick order by 1"
        assert sql_rows(database_url, ticks) == [("poll_coaching__users", 2, True)]  # not another location's
        evaluate()  # nothing new: counted once
        assert sql_rows(database_url, ticks) == [("poll_coaching__users", 2, True)]
        time.sleep(0.01)
        ours(TickStatus.SUCCESS)
        running = ours(TickStatus.STARTED)  # a tick still running when the alerts sensor looks: not counted yet
        time.sleep(0.01)
        ours(TickStatus.SUCCESS)
        evaluate()
        assert sql_rows(database_url, ticks) == [("poll_coaching__users", 2, False)]  # it recovered
        instance.update_tick(running.with_status(TickStatus.FAILURE, error=SerializableErrorInfo("late", [], "E")))
        evaluate()  # it ended in failure: counted now, once; the latest tick ended still is the success after it
        assert sql_rows(database_url, ticks) == [("poll_coaching__users", 3, False)]
        evaluate()
        assert sql_rows(database_url, ticks) == [("poll_coaching__users", 3, False)]


def _named_sensor(name: str):
    @sensor(name=name)
    def _sensor(_context):
        return SkipReason("a stand-in definition named as the instance's sensor")

    return _sensor


def test_a_prefixed_instance_names_its_alert_sensors_apart():
    found = {s.name: s.minimum_interval_seconds for s in build_alert_definitions(SPEC, Names("crm")).sensors}
    assert found == {"crm__alerts": 60, "crm__alert_on_run_failure": 60, "crm__resolve_run_failure": 60}
