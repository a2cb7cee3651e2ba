"""The outbound sync in Dagster: the depth sensor asks for a push, the push job materializes, dead-letter jobs."""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance, RunRequest, SkipReason, build_sensor_context

from airtable_pg.defs.outbound import DEPTH_SENSOR, DISCARD_JOB, PUSH_JOB, REPLAY_JOB, build_outbound_definitions
from airtable_pg_tests.dagster_resources import runtime_resources
from airtable_pg_tests.sync.outbound_helpers import BELIEFS, SPEC, airtable_records_with_key, app_sql, insert_goal

INSERT_BELIEF = (
    "insert into airtable.persoonlijke_overtuigingen (omschrijving, status) values (%s, %s) returning id::text"
)


def test_depth_sensor_requests_a_push_whose_run_records_what_was_pushed(sandbox, database_url) -> None:
    resources = runtime_resources(sandbox.url, sandbox.token, database_url)
    outbound = build_outbound_definitions(SPEC)
    jobs, (depth_sensor,) = outbound.jobs, outbound.sensors
    by_name = {j.name: j for j in jobs}
    assert depth_sensor.name == DEPTH_SENSOR and set(by_name) == {PUSH_JOB, REPLAY_JOB, DISCARD_JOB}
    instance = DagsterInstance.ephemeral()

    def tick():
        with build_sensor_context(instance=instance, resources=resources) as context:
            return depth_sensor(context)

    assert isinstance(tick(), SkipReason)
    insert_goal(database_url, title="Seen by the sensor")
    bad = app_sql(database_url, INSERT_BELIEF, ("Ik faal altijd", "onbekend"))[0][0]
    request = tick()
    assert isinstance(request, RunRequest) and request.tags["airtable_pg/outbox_pending"] == "2"

    result = by_name[PUSH_JOB].execute_in_process(instance=instance, resources=resources)
    assert result.success
    materialized = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert [m.asset_key.path[-1] for m in materialized] == ["personal_goals"]
    assert materialized[0].metadata["created"].value == 1 and materialized[0].metadata["dead_lettered"].value == 1
    assert isinstance(tick(), SkipReason)

    (letter_id,) = [row[0] for row in app_sql(database_url, "select id from airtable_sync.dead_letter")]
    app_sql(database_url, "update airtable.persoonlijke_overtuigingen set status = 'nieuw' where id = %s", (bad,))
    replay = {"ops": {"replay_dead_letters": {"config": {"all": True}}}}
    assert (
        by_name[REPLAY_JOB]
        .execute_in_process(run_config=replay, instance=instance, resources=resources)
        .success
    )
    assert len(airtable_records_with_key(sandbox, BELIEFS, bad)) == 1
    discard = {"ops": {"discard_dead_letter": {"config": {"id": letter_id, "reason": "again, to prove idempotence"}}}}
    assert (
        by_name[DISCARD_JOB]
        .execute_in_process(run_config=discard, instance=instance, resources=resources)
        .success
    )
    assert app_sql(database_url, "select status, resolution_reason from airtable_sync.dead_letter") == [
        ("replayed", "delivered to Airtable")
    ]
