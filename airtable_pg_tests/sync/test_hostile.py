"""A base whose table and field names are built to break SQL, URLs and slugs syncs like any other."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest

from airtable_pg.airtable.meta import fetch_tables
from airtable_pg.postgres.database import libpq_url
from airtable_pg.sandbox.demo import HOSTILE_BASE_ID
from airtable_pg.sandbox.server import Sandbox
from airtable_pg.spec import SyncSpec, dump_spec, load_spec
from airtable_pg.spec_pull import merge_base
from airtable_pg_tests.sandbox_fixtures import airtable_api_for
from airtable_pg_tests.sync_helpers import assert_mirror_matches, make_sync_engine

HOSTILE_SCHEMA = 'we"ird; schema'
HOSTILE_MIRROR = "Robert'); DROP TABLE students;--"


def hostile_spec(sandbox: Sandbox, path: Path) -> SyncSpec:
    """The spec `airtable-pg spec pull` would write for the hostile base, made more hostile still."""
    base = merge_base(None, "hostile", HOSTILE_BASE_ID, fetch_tables(airtable_api_for(sandbox), HOSTILE_BASE_ID))
    tables = dict(base.tables)
    students = next(t for t in tables.values() if t.airtable_name == HOSTILE_MIRROR)
    tables[students.key] = dataclasses.replace(students, mirror=HOSTILE_MIRROR)
    spec = SyncSpec(path=str(path), bases={"hostile": dataclasses.replace(base, schema=HOSTILE_SCHEMA, tables=tables)})
    path.write_text(dump_spec(spec), encoding="utf-8")
    return load_spec(path)


@pytest.fixture
def hostile(sandbox: Sandbox, migrated_database, tmp_path: Path):
    spec = hostile_spec(sandbox, tmp_path / "hostile.yaml")
    return spec, migrated_database(spec.path)


def test_hostile_names_sync_and_match(sandbox: Sandbox, hostile) -> None:
    spec, url = hostile
    base = spec.bases["hostile"]
    with make_sync_engine(sandbox, url, spec, workers=2) as engine:
        results = engine.sync_tables("full")
        again = engine.sync_tables("full")
    assert sorted(r.rows_seen for r in results) == [8, 12]
    assert all((r.inserted, r.updated) == (0, 0) for r in again)
    api = airtable_api_for(sandbox)
    for table in base.tables.values():
        assert_mirror_matches(url, api, base, table)
    with psycopg.connect(libpq_url(url)) as conn:
        tables = conn.execute("select tablename from pg_tables where schemaname = %s", (HOSTILE_SCHEMA,)).fetchall()
    assert (HOSTILE_MIRROR,) in tables  # a table by that name, holding the students: data, never SQL
