"""A base whose table and field names are built to break SQL, URLs and slugs syncs like any other."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest

from airtable_pg.airtable.escaping import unescape_fields
from airtable_pg.airtable.meta import fetch_tables
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import SyncSpec, dump_spec, load_spec
from airtable_pg.spec_pull import merge_base
from airtable_pg_tests.sync_helpers import assert_mirror_matches, make_sync_engine, mirror_rows
from airtable_sandbox.demo import HOSTILE_BASE_ID
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox

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


HOSTILE_VALUES = {
    "sql": "Robert'); DROP TABLE airtable.users;-- ' OR 1=1 --",
    "nul": "before\x00after",
    "emoji": "👩‍👩‍👧 🚀 \u200b e\u0301",
    "long_255": ("Überlange – " * 30)[:255],
    "text_100k": ("ab\x00cd 信念 " * 12_500)[:100_000],  # Airtable's long-text limit, NUL bytes throughout
}


def test_hostile_cell_values_round_trip_through_a_sync_and_a_webhook(sandbox_factory, database_url: str) -> None:
    """SQL-looking strings, NUL bytes, 100 kB texts, emoji, 255 characters: stored exactly, by poll and by webhook."""
    from airtable_pg.sync.live import LiveSync
    from airtable_pg_tests.sync_helpers import airtable_config
    from airtable_sandbox.demo import DEMO_BASE_ID, USER_FIELDS

    spec = load_spec()
    base = spec.bases["coaching"]
    users = base.tables["users"]
    sandbox = sandbox_factory(demo_records=12)
    api = airtable_api_for(sandbox).table(DEMO_BASE_ID, users.id)
    by_sync = {
        name: api.create({USER_FIELDS["name"]: value[:255], USER_FIELDS["notes"]: value})["id"]
        for name, value in HOSTILE_VALUES.items()
    }
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_tables("full", [("coaching", "users")])
    live = LiveSync(spec, database_url, airtable_config(sandbox), workers=2)
    live.care(notification_url=None)
    by_webhook = {
        name: api.create({USER_FIELDS["name"]: value[-255:], USER_FIELDS["notes"]: value[::-1]})["id"]
        for name, value in HOSTILE_VALUES.items()
    }
    reports = live.apply_all()
    assert sum(report.dead_letters for report in reports) == 0
    assert_mirror_matches(database_url, airtable_api_for(sandbox), base, users)  # every cell, column and link
    rows = mirror_rows(database_url, base, users)
    for name, value in HOSTILE_VALUES.items():
        synced, hooked = rows[by_sync[name]], rows[by_webhook[name]]
        assert unescape_fields(synced["fields"])[USER_FIELDS["notes"]] == value, name
        assert unescape_fields(hooked["fields"])[USER_FIELDS["notes"]] == value[::-1], name
    with psycopg.connect(libpq_url(database_url)) as conn:  # the SQL-looking text stayed data
        assert conn.execute("select to_regclass('airtable.users')").fetchone()[0] is not None
