"""The Dagster UI shows where each table is served from: an observation on its asset when its flag changes."""

from __future__ import annotations

from dagster import SensorResult, build_sensor_context
from dagster._core.test_utils import instance_for_test

from airtable_pg.defs.flags import build_flags_sensor
from airtable_pg.defs.lineage import table_asset_key
from airtable_pg.defs.names import RESOURCE
from airtable_pg.postgres.database import connection_pool
from airtable_pg.routing import BackendFlags
from airtable_pg.spec import load_spec
from airtable_pg_tests.dagster_resources import runtime_resource

SPEC = load_spec()


def test_each_flag_change_is_an_observation_on_the_tables_asset(database_url) -> None:
    sensor = build_flags_sensor(SPEC)
    resource = runtime_resource("http://127.0.0.1:9", "patUnused", database_url)  # Postgres only: no Airtable
    flags = BackendFlags(connection_pool(database_url), SPEC, environ={})
    with instance_for_test() as instance:

        def tick(cursor: str | None) -> SensorResult:
            with build_sensor_context(instance=instance, resources={RESOURCE: resource}, cursor=cursor) as context:
                return sensor(context)

        first = tick(None)
        assert len(first.asset_events) == len(list(SPEC.tables()))  # every table's starting point
        assert {e.metadata["backend"].value for e in first.asset_events} == {"airtable"}
        quiet = tick(first.cursor)
        assert quiet.asset_events == []  # nothing changed: nothing recorded

        flags.set("users", "shadow", reason="compare for a week", actor="ops")
        changed = tick(quiet.cursor)
        [event] = changed.asset_events
        assert event.asset_key == table_asset_key("coaching", "users")
        assert event.metadata["backend"].value == "shadow" and event.metadata["backend_version"].value == 1
        assert event.metadata["backend_changed_by"].value == "ops"
        assert event.metadata["backend_reason"].value == "compare for a week"
        assert event.description.startswith("Reads served from shadow since ")
