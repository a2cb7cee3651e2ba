"""Syncs made outside a Dagster run are recorded on the instance: materializations when rows changed, observations
when nothing did, and a verdict per gate aimed at the materialization (never "Not Evaluated")."""

from __future__ import annotations

from dagster import AssetCheckKey, DagsterInstance
from dagster._core.test_utils import instance_for_test

from airtable_pg.checks.after_change import EVALUATED_WITH_EVERY_CHANGE
from airtable_pg.checks.context import CheckContext
from airtable_pg.checks.runner import CHECKS
from airtable_pg.defs.instance_events import DagsterRecorder, record_syncs
from airtable_pg.defs.lineage import table_asset_key
from airtable_pg.postgres.database import connection_pool
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import airtable_config, make_sync_engine
from airtable_sandbox.demo import DEMO_BASE_ID, USER_FIELDS
from airtable_sandbox.pytest_plugin import airtable_api_for

SPEC = load_spec()
USERS = SPEC.bases["coaching"].tables["users"]
USERS_KEY = table_asset_key("coaching", "users")


def latest_verdicts(instance: DagsterInstance) -> dict[str, object]:
    """Each users gate's latest evaluation, by name."""
    verdicts = {}
    for name in CHECKS:
        [record] = instance.event_log_storage.get_asset_check_execution_history(AssetCheckKey(USERS_KEY, name), 1)
        verdicts[name] = record.event.dagster_event.event_specific_data
    return verdicts


def test_a_sync_outside_dagster_is_a_materialization_with_every_gate_aimed_at_it(sandbox, database_url):
    checks = CheckContext(SPEC, connection_pool(database_url), airtable_config(sandbox))
    with instance_for_test() as instance, make_sync_engine(sandbox, database_url) as engine:
        recorder = DagsterRecorder(instance)
        first = record_syncs(recorder, checks, [engine.sync_table("coaching", "users")], source="test")
        assert first.materialized == ["coaching.users"] and first.gates_evaluated == len(CHECKS)  # nothing to carry
        [materialization] = instance.fetch_materializations(USERS_KEY, limit=5).records
        metadata = materialization.asset_materialization.metadata
        assert metadata["dagster/row_count"].value > 0 and metadata["source"].value == "test"
        verdicts = latest_verdicts(instance)
        for name, verdict in verdicts.items():
            assert verdict.passed, (name, verdict.description)
            assert verdict.target_materialization_data.storage_id == materialization.storage_id, name

        quiet = record_syncs(recorder, checks, [engine.sync_table("coaching", "users", "incremental")], source="test")
        assert quiet.observed == ["coaching.users"] and not quiet.materialized  # nothing changed: no materialization
        assert len(instance.fetch_materializations(USERS_KEY, limit=5).records) == 1
        assert instance.fetch_observations(USERS_KEY, limit=5).records

        airtable_api_for(sandbox).table(DEMO_BASE_ID, USERS.id).create({USER_FIELDS["name"]: "Nieuw"})
        changed = record_syncs(recorder, checks, [engine.sync_table("coaching", "users", "incremental")], source="test")
        assert changed.gates_evaluated == len(EVALUATED_WITH_EVERY_CHANGE)
        assert changed.gates_carried == len(CHECKS) - len(EVALUATED_WITH_EVERY_CHANGE)
        latest = instance.fetch_materializations(USERS_KEY, limit=1).records[0]
        for name, verdict in latest_verdicts(instance).items():
            assert verdict.target_materialization_data.storage_id == latest.storage_id, name
            carried = "carried_forward" in verdict.metadata
            assert carried == (name not in EVALUATED_WITH_EVERY_CHANGE), name
            if carried:
                assert "carried forward" in verdict.description and verdict.metadata["age_seconds"].value >= 0


def test_a_prefixed_instance_gets_the_sync_on_its_own_asset(sandbox, database_url, tmp_path):
    """A project that called ``build_defs(prefix="coaching_app")`` sets AIRTABLE_PG_DAGSTER_PREFIX: the commands'
    records land on ``coaching_app/airtable/coaching/users``, the asset its UI shows, not on an unknown key."""
    from airtable_pg.defs.instance_events import recorder_at
    from airtable_pg.defs.names import Names
    from airtable_pg.settings import load_settings

    settings = load_settings({"AIRTABLE_PG_DAGSTER_PREFIX": "coaching_app"}, use_dev_stack=False)
    names = Names(settings.dagster_prefix)
    prefixed = names.table_asset_key("coaching", "users")
    assert prefixed.path == ["coaching_app", *USERS_KEY.path]
    checks = CheckContext(SPEC, connection_pool(database_url), airtable_config(sandbox))
    with instance_for_test(temp_dir=str(tmp_path)) as instance, make_sync_engine(sandbox, database_url) as engine:
        recorder = recorder_at(tmp_path, None, names)
        assert recorder is not None
        record_syncs(recorder, checks, [engine.sync_table("coaching", "users")], source="test")
        assert len(instance.fetch_materializations(prefixed, limit=5).records) == 1
        assert not instance.fetch_materializations(USERS_KEY, limit=5).records
        [record] = instance.event_log_storage.get_asset_check_execution_history(AssetCheckKey(prefixed, "freshness"), 1)
        assert record.event.dagster_event.event_specific_data.passed
