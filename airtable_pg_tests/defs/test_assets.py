"""The Dagster layer: assets made from the spec, their lineage and metadata, real materializations, the jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import requests
from dagster import AssetKey, AssetMaterialization, DagsterInstance, ExecuteInProcessResult, RunConfig, materialize
from psycopg import sql

from airtable_pg.definitions import build_definitions
from airtable_pg.defs.assets import SyncConfig, base_lineage, build_table_assets, table_asset_key
from airtable_pg.defs.jobs import FULL_SYNC_JOB, INCREMENTAL_SYNC_JOB
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import SyncSpec, load_spec, parse_spec
from airtable_pg_tests.dagster_resources import runtime_resources
from airtable_sandbox.demo_project import DEMO_SPEC

REPO = Path(__file__).resolve().parents[2]
DEMO_SPEC = load_spec(str(DEMO_SPEC))
SYNC_METADATA = (
    "rows_seen", "inserted", "updated", "unchanged", "tombstoned", "restored", "cell_errors",
    "requests", "throttled_429", "retried_5xx", "duration_s", "scan_ranges", "watermark",
)  # fmt: skip


def key(table: str) -> AssetKey:
    return table_asset_key("coaching", table)


def tiny_table(table_id: str, links: dict[str, str]) -> dict[str, Any]:
    """A table with a name field and one two-way-style link field per ``{field id: linked table id}``."""
    fields: dict[str, Any] = {
        f"fldName{table_id[3:13]}": {"name": "Name", "type": "singleLineText", "column": "name", "pg_type": "text"}
    }
    for field_id, linked in links.items():
        fields[field_id] = {
            "name": f"link {field_id}",
            "type": "multipleRecordLinks",
            "column": field_id.lower(),
            "pg_type": "text[]",
            "linked_table": linked,
        }
    return {"id": table_id, "fields": fields}


def cyclic_spec() -> SyncSpec:
    """users ↔ goals (two-way), users → users (self link), a → b → c → a (a three-table cycle)."""
    return parse_spec({"bases": {"coaching": {"id": "appCoachingDemo01", "tables": {
        "users": tiny_table("tblUsers000000001", {"fldUserGoals00001": "tblGoals000000001",
                                                  "fldUserCoach00001": "tblUsers000000001"}),
        "goals": tiny_table("tblGoals000000001", {"fldGoalUser000001": "tblUsers000000001"}),
        "a": tiny_table("tblAaaaaaaaaaaaaa", {"fldAtoC0000000001": "tblCccccccccccccc"}),
        "b": tiny_table("tblBbbbbbbbbbbbbb", {"fldBtoA0000000001": "tblAaaaaaaaaaaaaa"}),
        "c": tiny_table("tblCccccccccccccc", {"fldCtoB0000000001": "tblBbbbbbbbbbbbbb"}),
    }}}})  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The asset graph.


def test_every_spec_table_is_one_asset_grouped_by_base():
    graph = build_definitions(DEMO_SPEC).resolve_asset_graph()
    expected = {table_asset_key(base.key, table.key) for base, table in DEMO_SPEC.tables()}
    # Beside the tables: one attachment archive per base with attachment fields (defs.archive), in the base's group.
    archives = {AssetKey(["archive", "coaching", "attachments"])}
    # And the cutover's latency baseline (defs.baseline), in a group of its own and without lineage: the tables'
    # "Materialize all" must not read Airtable for minutes, nor their graph be crossed by arrows to a measurement.
    baseline = AssetKey(["cutover", "latency_baseline"])
    assert set(graph.get_all_asset_keys()) == expected | archives | {baseline}
    assert all(graph.get(k).group_name == "coaching" for k in expected | archives)
    assert graph.get(baseline).group_name == "cutover" and not graph.get(baseline).parent_keys


def test_asset_dependencies_are_the_spec_link_fields_with_lineage():
    graph = build_definitions(DEMO_SPEC).resolve_asset_graph()
    for base, table in DEMO_SPEC.tables():
        linked = {
            table_asset_key(base.key, base.table_by_id(link.linked_table).key)
            for link in table.link_fields
            if link.lineage
        }
        assert set(graph.get(table_asset_key(base.key, table.key)).parent_keys) == linked, table.key
    # The demo's lineage, spelled out: children point at their parents, never back.
    assert set(graph.get(key("personal_goals")).parent_keys) == {key("users"), key("programs")}
    assert set(graph.get(key("persoonlijke_overtuigingen")).parent_keys) == {key("users"), key("overtuigingen")}
    assert set(graph.get(key("methods")).parent_keys) == {key("programs")}
    assert not graph.get(key("programs")).parent_keys


def test_back_edges_are_dropped_by_spec_order_and_explained():
    spec = cyclic_spec()
    graph = build_definitions(spec).resolve_asset_graph()  # Dagster itself rejects a cyclic graph
    # users is declared first: goals → users is kept; users → goals and users → users would close cycles.
    assert set(graph.get(key("goals")).parent_keys) == {key("users")}
    assert not graph.get(key("users")).parent_keys
    # a → c points forward in spec order, the others back: b → a and c → b are kept, a → c is dropped.
    assert set(graph.get(key("b")).parent_keys) == {key("a")}
    assert set(graph.get(key("c")).parent_keys) == {key("b")}
    assert not graph.get(key("a")).parent_keys
    users_description = graph.get(key("users")).description
    assert "fldUserGoals00001" in users_description and "already depends on this one" in users_description
    assert "fldUserCoach00001" in users_description and "cannot depend on itself" in users_description
    assert "fldAtoC0000000001" in graph.get(key("a")).description
    # Same spec, same graph: nothing depends on hashing or iteration luck.
    again = base_lineage(cyclic_spec().bases["coaching"])
    assert again == base_lineage(spec.bases["coaching"])


def test_definition_metadata_describes_the_mirror_table():
    graph = build_definitions(DEMO_SPEC).resolve_asset_graph()
    base = DEMO_SPEC.bases["coaching"]
    for table in base.tables.values():
        node = graph.get(table_asset_key(base.key, table.key))
        assert node.tags["authority"] == table.authority and node.tags["lane"] == table.lane
        assert node.owners
        assert table.id in node.description and table.airtable_name in node.description
        assert node.metadata["dagster/table_name"].value == f"{base.schema}.{table.mirror}"
        columns = {c.name: c for c in node.metadata["dagster/column_schema"].schema.columns}
        for field in table.fields.values():
            assert columns[field.column].type == field.pg_type
            assert field.id in columns[field.column].description
            assert columns[field.column].tags["airtable_field_id"] == field.id
        assert {"id", "airtable_id", "fields", "synced_at", "deleted_at"} <= set(columns)
    users = graph.get(key("users"))
    assert users.tags["lane"] == "fast"


def test_definitions_validate_cli_passes(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "AIRTABLE_PG_SPEC"} | {"DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,  # a deadline: minutes at load 10
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location airtable_pg" in done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# Materializations against the real sandbox and Postgres.


def mirror_count(database_url: str, schema: str, table: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        query = sql.SQL("select count(*) from {} where deleted_at is null").format(sql.Identifier(schema, table))
        return conn.execute(query).fetchone()[0]


def materializations_by_key(result: ExecuteInProcessResult) -> dict[AssetKey, AssetMaterialization]:
    return {event.asset_key: event.materialization for event in result.get_asset_materialization_events()}


def test_materialize_syncs_every_table_and_reports_what_it_did(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=60)
    result = materialize(
        build_table_assets(DEMO_SPEC),
        resources=runtime_resources(sandbox.url, sandbox.token, database_url, requests_per_second=100.0),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", headers={"Authorization": f"Bearer {sandbox.token}"})
    in_sandbox = stats.json()["records"][DEMO_SPEC.bases["coaching"].id]
    materialized = materializations_by_key(result)
    base = DEMO_SPEC.bases["coaching"]
    for table in base.tables.values():
        metadata = materialized[table_asset_key(base.key, table.key)].metadata
        assert set(SYNC_METADATA) <= set(metadata), table.key
        expected = in_sandbox[table.id]
        assert expected > 0
        assert metadata["mode"].value == "full"
        assert metadata["rows_seen"].value == metadata["inserted"].value == expected
        assert metadata["dagster/row_count"].value == expected
        assert metadata["requests"].value >= 1
        assert mirror_count(database_url, base.schema, table.mirror) == expected
    # Invariant 5: the token never reaches Dagster's event log or metadata.
    assert all(sandbox.token not in repr(event) for event in result.all_events)


def test_jobs_run_full_then_incremental_with_secrets_from_the_environment(sandbox_factory, database_url, monkeypatch):
    sandbox = sandbox_factory(demo_records=30)
    monkeypatch.setenv("AIRTABLE_API_KEY", sandbox.token)
    monkeypatch.setenv("AIRTABLE_API_URL", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    defs = build_definitions(DEMO_SPEC)
    instance = DagsterInstance.ephemeral()

    full = defs.resolve_job_def(FULL_SYNC_JOB).execute_in_process(instance=instance)
    assert full.success
    full_metadata = {k: m.metadata for k, m in materializations_by_key(full).items()}
    assert {m["mode"].value for m in full_metadata.values()} == {"full"}
    assert len(full_metadata) == len(DEMO_SPEC.bases["coaching"].tables)

    users = DEMO_SPEC.bases["coaching"].tables["users"]
    name_field = users.primary_field
    created = requests.post(
        f"{sandbox.url}/_sandbox/bases/{DEMO_SPEC.bases['coaching'].id}/tables/{users.id}/records",
        headers={"Authorization": f"Bearer {sandbox.token}"},
        # A user with a login e-mail: the users' quality gate (required, unique, valid) runs after the sync.
        json={"fields": {name_field: "Nieuwe Gebruiker", "fldUsrEmail000000": "nieuwe.gebruiker@coaching.example"}},
        timeout=10,
    )
    created.raise_for_status()

    incremental = defs.resolve_job_def(INCREMENTAL_SYNC_JOB).execute_in_process(instance=instance)
    assert incremental.success
    metadata = {k: m.metadata for k, m in materializations_by_key(incremental).items()}
    assert {m["mode"].value for m in metadata.values()} == {"incremental"}
    users_before = full_metadata[key("users")]["dagster/row_count"].value
    assert metadata[key("users")]["inserted"].value == 1
    assert metadata[key("users")]["dagster/row_count"].value == users_before + 1
    assert metadata[key("programs")]["inserted"].value == 0
    assert all(sandbox.token not in repr(event) for event in incremental.all_events)


def test_run_config_chooses_incremental_for_one_asset(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=20)
    resources = runtime_resources(sandbox.url, sandbox.token, database_url, requests_per_second=100.0)
    programs = next(a for a in build_table_assets(DEMO_SPEC) if a.key == key("programs"))
    instance = DagsterInstance.ephemeral()
    assert materialize([programs], resources=resources, instance=instance).success
    again = materialize(
        [programs],
        resources=resources,
        instance=instance,
        run_config=RunConfig(ops={programs.op.name: SyncConfig(mode="incremental")}),
    )
    assert again.success
    metadata = materializations_by_key(again)[key("programs")].metadata
    assert metadata["mode"].value == "incremental"
    assert metadata["inserted"].value == 0 and metadata["tombstoned"].value == 0


def test_a_refused_api_key_fails_at_once_without_retries_or_leaking_the_key(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=10)
    wrong_key = "patWrongKey.0123456789abcdef0123456789"
    programs = next(a for a in build_table_assets(DEMO_SPEC) if a.key == key("programs"))
    started = time.monotonic()
    result = materialize(
        [programs],
        resources=runtime_resources(sandbox.url, wrong_key, database_url, requests_per_second=5.0),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert time.monotonic() - started < 20  # the retry policy would wait 30 s before a second attempt
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "HTTP 401" in failure.step_failure_data.error.message
    assert all(wrong_key not in repr(event) for event in result.all_events)
