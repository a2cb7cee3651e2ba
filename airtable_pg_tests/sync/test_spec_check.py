"""A spec naming a field or table Airtable does not have fails that table's sync, clearly, before any row is written."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from airtable_pg.airtable.api_pool import ApiPool
from airtable_pg.airtable.client import RequestStats
from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg.spec import load_spec
from airtable_pg.sync.engine import SyncFailed
from airtable_pg.sync.spec_check import AirtableSpecCheck, SpecMismatch
from airtable_pg_tests.sync_helpers import airtable_config, make_sync_engine, mirror_rows
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox

GHOST_FIELD = "fldGhost000000001"
GHOST_TABLE = "tblGhost000000001"


def demo_spec_with(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(Path(load_spec().path).read_text(encoding="utf-8"))
    change(raw["bases"]["coaching"]["tables"])
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def add_ghost_field(tables: dict) -> None:
    tables["users"]["fields"][GHOST_FIELD] = {
        "name": "gone",
        "type": "singleLineText",
        "column": "gone",
        "pg_type": "text",
    }


def test_a_field_id_airtable_does_not_have_fails_the_table_and_names_it(
    sandbox: Sandbox, migrated_database, tmp_path: Path
) -> None:
    spec = load_spec(demo_spec_with(tmp_path, add_ghost_field))
    url = migrated_database(spec.path)  # the mirror has the column: only Airtable lacks the field
    with make_sync_engine(sandbox, url, spec, workers=2) as sync, pytest.raises(SyncFailed) as failed:
        sync.sync_tables("full", [("coaching", "programs"), ("coaching", "users")])
    assert [r.table for r in failed.value.results] == ["programs"]  # the other table synced
    message = str(failed.value.failures["coaching.users"])
    assert "coaching.users" in message and GHOST_FIELD in message and "airtable-pg spec pull" in message
    coaching = spec.bases["coaching"]
    assert mirror_rows(url, coaching, coaching.tables["users"]) == {}  # failed before writing a row
    with make_sync_engine(sandbox, url, spec, workers=2) as sync, pytest.raises(SpecMismatch, match=GHOST_FIELD):
        sync.sync_table("coaching", "users", "incremental")


def test_a_field_airtable_lacks_fails_even_the_full_sync_of_an_empty_table(
    sandbox: Sandbox, migrated_database, tmp_path: Path
) -> None:
    # A full scan reads while the schema request is in flight and waits for the check before writing: a table with
    # no record writes nothing, yet its run must not complete (and tombstone) as if all were well.
    spec = load_spec(demo_spec_with(tmp_path, add_ghost_field))
    url = migrated_database(spec.path)
    users = airtable_api_for(sandbox).table(DEMO_BASE_ID, spec.bases["coaching"].tables["users"].id)
    users.batch_delete([record["id"] for record in users.all()])
    with make_sync_engine(sandbox, url, spec) as sync, pytest.raises(SpecMismatch, match=GHOST_FIELD):
        sync.sync_table("coaching", "users", "full")


def test_a_table_id_the_base_does_not_have_fails_that_table(
    sandbox: Sandbox, migrated_database, tmp_path: Path
) -> None:
    def ghost_table(tables: dict) -> None:
        tables["methods"]["id"] = GHOST_TABLE

    spec = load_spec(demo_spec_with(tmp_path, ghost_table))
    url = migrated_database(spec.path)
    with make_sync_engine(sandbox, url, spec) as sync, pytest.raises(SpecMismatch) as error:
        sync.sync_table("coaching", "methods", "full")
    assert (
        "coaching.methods" in str(error.value) and GHOST_TABLE in str(error.value) and DEMO_BASE_ID in str(error.value)
    )
    assert "airtable-pg spec pull" in str(error.value)


def test_one_metadata_request_per_base_through_the_shared_limiter(sandbox: Sandbox, database_url: str) -> None:
    spec = load_spec()
    config = airtable_config(sandbox)
    limiter = config.rate_limiter(sa.create_engine(sqlalchemy_url(database_url)))
    apis = ApiPool(config, limiter, RequestStats(), threading.Event())
    check = AirtableSpecCheck()
    tables = list(spec.tables())
    with ThreadPoolExecutor(max_workers=len(tables)) as pool:  # tables of one base checked at once, as in a sync
        for future in [pool.submit(check.verify, base, table, apis) for base, table in tables]:
            future.result()
    assert len(tables) > 1 and apis.stats.requests == 1
    state = limiter.state(DEMO_BASE_ID)
    assert state is not None and state.requests == 1  # it took its slot from the base's bucket
    apis.close()
