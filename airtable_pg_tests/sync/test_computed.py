"""The computed-cell refresh: a lookup that changed through another record reaches Postgres, and nothing else moves."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import load_spec
from airtable_pg.sync.computed import merge_computed
from airtable_pg_tests.sync_helpers import make_sync_engine
from airtable_sandbox.pytest_plugin import airtable_api_for

SPEC = load_spec()
BASE = SPEC.bases["coaching"]
METHODS = BASE.tables["methods"]
PROGRAMS = BASE.tables["programs"]
PROGRAM_NAME = "fldPrgName0000000"
LOOKUP = "fldMthProgramNm00"  # methods.program_name: a lookup of the linked program's name


def method_rows(database_url: str) -> dict[str, dict]:
    with psycopg.connect(libpq_url(database_url), row_factory=dict_row) as conn:
        rows = conn.execute("select airtable_id, program, program_name, fields, synced_at from airtable.methods")
        return {row["airtable_id"]: row for row in rows}


def test_a_lookup_changed_through_another_record_is_refreshed_and_a_full_sync_then_writes_nothing(
    sandbox_factory, database_url
):
    sandbox = sandbox_factory(demo_records=300)
    api = airtable_api_for(sandbox)
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        engine.sync_tables("full", [("coaching", "programs"), ("coaching", "methods")])
        before = method_rows(database_url)
        method_id, method = next((i, r) for i, r in before.items() if r["program"])
        program_id = method["program"][0]
        api.table(BASE.id, PROGRAMS.id).update(program_id, {PROGRAM_NAME: "Renamed program"}, use_field_ids=True)

        # The method record itself did not change: a poll does not see it.
        engine.sync_table("coaching", "methods", "incremental")
        assert method_rows(database_url)[method_id]["program_name"] != ["Renamed program"]

        refreshed = engine.sync_table("coaching", "methods", "computed")
        after = method_rows(database_url)
        affected = {i for i, r in before.items() if r["program"] and program_id in r["program"]}
        assert refreshed.mode == "computed" and refreshed.updated == len(affected) >= 1
        assert refreshed.rows_seen == len(before)
        assert after[method_id]["program_name"] == ["Renamed program"]
        assert after[method_id]["fields"][LOOKUP] == ["Renamed program"]
        for record_id, row in before.items():  # every other cell stays as it was
            other_cells = {k: v for k, v in row["fields"].items() if k not in METHODS.computed_field_ids}
            assert {k: v for k, v in after[record_id]["fields"].items() if k not in METHODS.computed_field_ids} == (
                other_cells
            )
            if record_id not in affected:
                assert after[record_id]["synced_at"] == row["synced_at"]  # untouched rows are not rewritten

        full = engine.sync_table("coaching", "methods", "full")
        assert (full.inserted, full.updated, full.tombstoned) == (0, 0, 0)


def test_merge_keeps_stored_cells_and_drops_a_computed_cell_airtable_now_leaves_empty():
    stored = {"fldA": "kept", "fldF": 1, "fldL": ["old"]}
    assert merge_computed(stored, {"fldF": 2}, ["fldF", "fldL"]) == {"fldA": "kept", "fldF": 2}


def test_a_refresh_of_a_table_never_synced_is_its_first_import(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=10)
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        first = engine.sync_table("coaching", "users", "computed")
    assert first.mode == "full" and first.fallback_reason  # never synced: the first import comes first
