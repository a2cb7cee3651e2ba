"""Webhook care in Dagster: the health sensor reports each hook and requests care; the care job re-creates."""

from __future__ import annotations

import json

import psycopg
from dagster import DagsterInstance, SensorResult, build_sensor_context

from airtable_pg.defs.webhooks import build_webhook_definitions
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import load_spec
from airtable_pg.sync.live import LiveSync
from airtable_pg_tests.dagster_resources import runtime_resources
from airtable_pg_tests.sync_helpers import admin, airtable_config, make_sync_engine

SPEC = load_spec()


def test_health_sensor_reports_once_requests_care_when_expired_and_care_recreates(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=20)
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_tables("full")
    LiveSync(SPEC, database_url, airtable_config(sandbox), workers=2).care(None)
    resources = runtime_resources(sandbox.url, sandbox.token, database_url)
    webhooks = build_webhook_definitions(SPEC)
    (care_job,), (health_sensor,) = webhooks.jobs, webhooks.sensors
    instance = DagsterInstance.ephemeral()

    def tick(cursor: str | None):
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            return health_sensor(ctx), ctx.cursor

    first, cursor = tick(None)
    assert isinstance(first, SensorResult) and not first.run_requests
    observed = {event.asset_key.path[-1]: event.metadata for event in first.asset_events}
    assert set(observed) == set(SPEC.bases["coaching"].tables)
    assert observed["users"]["healthy"].value is True
    assert "secret" not in repr(first.asset_events).lower()
    # The tick says, in words, per base: the hook, where it pings, when it expires, healthy or not.
    with psycopg.connect(libpq_url(database_url)) as conn:
        hook_id = conn.execute("select webhook_id from airtable_sync.webhook").fetchone()[0]
    message = first.skip_reason.skip_message
    assert message.startswith(f"coaching: webhook {hook_id} no pings (payloads are polled), expires ")
    assert message.endswith("days), healthy")
    assert json.loads(cursor)["coaching"] == {"webhook": hook_id, "healthy": True, "problems": [], "cursor": 1}
    again, _ = tick(cursor)
    assert isinstance(again, SensorResult) and not again.asset_events and not again.run_requests  # unchanged
    assert again.skip_reason.skip_message == message

    admin(sandbox, "POST", "clock/advance", json={"seconds": 8 * 24 * 3600})
    expired, _ = tick(cursor)
    assert isinstance(expired, SensorResult) and len(expired.run_requests) == 1
    assert any(event.metadata["healthy"].value is False for event in expired.asset_events)

    with psycopg.connect(libpq_url(database_url)) as conn:
        old = conn.execute("select webhook_id from airtable_sync.webhook").fetchone()[0]
    assert care_job.execute_in_process(instance=instance, resources=resources).success
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("select webhook_id from airtable_sync.webhook").fetchone()[0] != old


def test_a_base_never_set_up_is_reported_but_never_cared_for(sandbox, database_url):
    resources = runtime_resources(sandbox.url, sandbox.token, database_url)
    (health_sensor,) = build_webhook_definitions(SPEC).sensors
    with build_sensor_context(instance=DagsterInstance.ephemeral(), resources=resources) as ctx:
        result = health_sensor(ctx)
    assert isinstance(result, SensorResult) and not result.run_requests  # no implicit first import
    assert all(event.metadata["healthy"].value is False for event in result.asset_events)
