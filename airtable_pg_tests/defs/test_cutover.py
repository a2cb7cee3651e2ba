"""The UI shows each table's cutover verdict: observed when it changes, never repeated when it does not."""

from __future__ import annotations

from dagster import DagsterInstance, build_sensor_context

from airtable_pg.checks.runner import CHECKS
from airtable_pg.defs.cutover import build_readiness_sensor
from airtable_pg.postgres.check_results import store_results
from airtable_pg.postgres.database import connection_pool
from airtable_pg.spec import load_spec
from airtable_pg_tests.dagster_resources import runtime_resources

SPEC = load_spec()


def test_readiness_is_observed_per_table_when_it_changes(database_url):
    readiness = build_readiness_sensor(SPEC)
    instance = DagsterInstance.ephemeral()

    def tick(cursor):
        resources = runtime_resources("http://127.0.0.1:9", "patNeverUsed.0000", database_url)  # Postgres only
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            result = readiness(context)
        return result, result.cursor

    first, cursor = tick(None)
    by_table = {event.asset_key.path[-1]: event.metadata for event in first.asset_events}
    assert set(by_table) == set(SPEC.bases["coaching"].tables)
    assert by_table["users"]["cutover_ready"].value is False
    assert by_table["users"]["gate_freshness"].value.startswith("never run")
    assert not tick(cursor)[0].asset_events  # nothing changed: nothing recorded again

    users = SPEC.bases["coaching"].tables["users"]
    passed = {"passed": True, "severity": "error", "reason": "fine", "failing_ids": [], "details": {},
              "requests": 0, "seconds": 0.0}  # fmt: skip
    store_results(connection_pool(database_url), [(SPEC.bases["coaching"].id, users.id, passed | {"check": check})
                                                  for check in CHECKS])  # fmt: skip
    changed, _ = tick(cursor)
    assert [event.asset_key.path[-1] for event in changed.asset_events] == ["users"]
    assert changed.asset_events[0].metadata["cutover_ready"].value is True
