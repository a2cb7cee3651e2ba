"""The one apply path into Postgres: upserts, join tables, scans and tombstones, hostile names."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from airtable_pg.postgres.database import connection_pool, libpq_url
from airtable_pg.postgres.errors import RunLost, SchemaNotReady
from airtable_pg.postgres.table_store import TableStore
from airtable_pg.postgres.transaction import transaction
from airtable_pg.rows import MirrorRow
from airtable_pg.spec import load_spec

HOSTILE_TABLE = "Robert'); DROP TABLE students;--"
LONG_COLUMN = "ü" * 31  # 62 bytes: fits Postgres's 63-byte limit only as bytes are counted right

SPEC = {
    "version": 1,
    "bases": {
        "hostile": {
            "id": "appHostileWriter1",
            "schema": 'we"ird; schema',
            "tables": {
                "people": {
                    "id": "tblPeople00000001",
                    "mirror": HOSTILE_TABLE,
                    "fields": {
                        "fldName0000000001": {
                            "name": "Name",
                            "type": "singleLineText",
                            "column": 'na"me; --',
                            "pg_type": "text",
                        },
                        "fldScore000000001": {
                            "name": "Score",
                            "type": "number",
                            "column": LONG_COLUMN,
                            "pg_type": "numeric",
                        },
                        "fldTeam0000000001": {
                            "name": "Team",
                            "type": "multipleRecordLinks",
                            "column": "team",
                            "pg_type": "text[]",
                            "linked_table": "tblTeams000000001",
                        },
                        "fldMeta0000000001": {"name": "Meta", "type": "barcode", "column": "meta", "pg_type": "jsonb"},
                    },
                },
                "teams": {
                    "id": "tblTeams000000001",
                    "fields": {
                        "fldTName000000001": {
                            "name": "Name",
                            "type": "singleLineText",
                            "column": "name",
                            "pg_type": "text",
                        },
                    },
                },
            },
        }
    },
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, migrated_database):
    path = tmp_path_factory.mktemp("spec") / "hostile.yaml"
    path.write_text(yaml.safe_dump(SPEC, allow_unicode=True), encoding="utf-8")
    url = migrated_database(path)
    spec = load_spec(path)
    base, table = spec.table("hostile", "people")
    return url, TableStore(connection_pool(url), base, table)


def row(record_id: str, name: str, score: float | None = None, team: list[str] | None = None) -> MirrorRow:
    cells: dict = {"fldName0000000001": name}
    if score is not None:
        cells["fldScore000000001"] = score
    if team:
        cells["fldTeam0000000001"] = team
    return MirrorRow(
        airtable_id=record_id,
        created_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        fields=cells,
        columns={
            'na"me; --': name,
            LONG_COLUMN: None if score is None else Decimal(str(score)),
            "team": team,
            "meta": {"text": "0123", "type": None},
        },
        links={"fldTeam0000000001": team or []},
    )


def fetch(url: str, query: str, *params):
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(query, params).fetchall()


def test_hostile_names_are_identifiers_and_upserts_never_duplicate(hostile):
    url, writer = hostile
    first = writer.apply([row("rec00000000000001", "Ann", 1.5, ["recTeam0000000001"]), row("rec00000000000002", "Bob")])
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    again = writer.apply([row("rec00000000000001", "Ann", 1.5, ["recTeam0000000001"]), row("rec00000000000002", "Bob")])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    changed = writer.apply([row("rec00000000000002", "Bobby")])
    assert (changed.inserted, changed.updated) == (0, 1)
    rows = fetch(
        url,
        sql.SQL("select airtable_id, {}, {} from {} order by 1")
        .format(
            sql.Identifier('na"me; --'), sql.Identifier(LONG_COLUMN), sql.Identifier('we"ird; schema', HOSTILE_TABLE)
        )
        .as_string(None),
    )
    assert rows == [("rec00000000000001", "Ann", Decimal("1.5")), ("rec00000000000002", "Bobby", None)]
    # the table named like an injection exists as a table, and `students` was never touched
    assert fetch(url, "select count(*) from pg_tables where tablename = %s", HOSTILE_TABLE) == [(1,)]


def test_join_table_follows_links(hostile):
    url, writer = hostile
    writer.apply([row("rec00000000000003", "Cat", team=["recTeamA000000001", "recTeamB000000001"])])
    writer.apply([row("rec00000000000003", "Cat", team=["recTeamB000000001"])])
    join = writer.table.join_table(writer.table.fields["fldTeam0000000001"])
    links = fetch(
        url,
        sql.SQL("select position, linked_airtable_id from {} where airtable_id = %s")
        .format(sql.Identifier('we"ird; schema', join))
        .as_string(None),
        "rec00000000000003",
    )
    assert links == [(0, "recTeamB000000001")]


def test_completed_scan_tombstones_unseen_and_restores_returning(hostile):
    url, writer = hostile
    writer.apply([row("rec0000000000000a", "Keep"), row("rec0000000000000b", "Gone")])
    scan, started = writer.start_scan("full")
    writer.apply([row("rec0000000000000a", "Keep")], scan_id=scan)
    assert writer.finish_scan(scan, tombstone_before=started) >= 1
    deleted = dict(
        fetch(
            url,
            sql.SQL("select airtable_id, deleted_at is not null from {}")
            .format(sql.Identifier('we"ird; schema', HOSTILE_TABLE))
            .as_string(None),
        )
    )
    assert deleted["rec0000000000000a"] is False and deleted["rec0000000000000b"] is True
    back = writer.apply([row("rec0000000000000b", "Gone")])
    assert back.restored == 1
    kinds = fetch(
        url, "select kind from airtable_sync.change_event where airtable_id = %s order by id", "rec0000000000000b"
    )
    assert [k for (k,) in kinds] == ["created", "deleted", "restored"]


def test_interrupted_scan_tombstones_nothing(hostile):
    url, writer = hostile
    writer.apply([row("rec0000000000000c", "Stays")])
    scan, _ = writer.start_scan("full")
    writer.apply([row("rec0000000000000a", "Keep")], scan_id=scan)
    writer.fail_scan(scan, "boom")
    assert fetch(
        url,
        sql.SQL("select deleted_at from {} where airtable_id = %s")
        .format(sql.Identifier('we"ird; schema', HOSTILE_TABLE))
        .as_string(None),
        "rec0000000000000c",
    ) == [(None,)]
    assert fetch(url, "select count(*) from airtable_sync.scan_seen where scan_id = %s", scan) == [(0,)]


def test_rows_written_after_scan_start_are_not_tombstoned(hostile):
    url, writer = hostile
    scan, started = writer.start_scan("full")
    writer.apply([row("rec0000000000000d", "Polled meanwhile")], source="poll")  # not part of the scan
    writer.finish_scan(scan, tombstone_before=started)
    assert fetch(
        url,
        sql.SQL("select deleted_at from {} where airtable_id = %s")
        .format(sql.Identifier('we"ird; schema', HOSTILE_TABLE))
        .as_string(None),
        "rec0000000000000d",
    ) == [(None,)]


def test_watermark_never_moves_backwards(hostile):
    _, writer = hostile
    later, earlier = datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    writer.apply([], watermark=later)
    writer.apply([], watermark=earlier)
    assert writer.watermark() == later


def test_missing_table_is_a_clear_error(new_database, tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC, allow_unicode=True), encoding="utf-8")
    base, table = load_spec(path).table("hostile", "people")
    with pytest.raises(SchemaNotReady, match="airtable-pg db upgrade"):
        TableStore(connection_pool(new_database("empty")), base, table)


def test_a_run_abandoned_by_a_killed_process_is_closed_and_its_seen_ids_dropped(hostile):
    url, writer = hostile
    scan, _ = writer.start_scan("full")
    writer.apply([row("rec0000000000000e", "Seen by a dead scan")], scan_id=scan)
    with psycopg.connect(libpq_url(url)) as conn:  # the process died mid-scan: its heartbeat stopped long ago
        conn.execute(
            "update airtable_sync.sync_run set heartbeat_at = now() - interval '7 hours' where scan_id = %s", (scan,)
        )
    writer.start_scan("full")
    assert fetch(
        url, "select status, error like 'abandoned%%' from airtable_sync.sync_run where scan_id = %s", scan
    ) == [("failed", True)]
    assert fetch(url, "select count(*) from airtable_sync.scan_seen where scan_id = %s", scan) == [(0,)]


def test_a_run_declared_dead_can_neither_tombstone_nor_finish(hostile):
    """The scan of a slow process, declared dead by another, fails loudly instead of tombstoning what it missed."""
    url, writer = hostile
    writer.apply([row("rec0000000000000f", "Seen"), row("rec0000000000000g", "Not yet seen")])
    scan, started = writer.start_scan("full")
    writer.apply([row("rec0000000000000f", "Seen")], scan_id=scan)
    with psycopg.connect(libpq_url(url)) as conn:  # the slow run's heartbeat stalled past its lease
        conn.execute(
            "update airtable_sync.sync_run set heartbeat_at = now() - interval '1 hour' where scan_id = %s", (scan,)
        )
    writer.start_scan("incremental")  # another process starts a sync and reaps the silent run
    with pytest.raises(RunLost, match="lost its lease"):
        writer.finish_scan(scan, tombstone_before=started)
    with pytest.raises(RunLost):
        writer.apply([row("rec0000000000000h", "Late page")], scan_id=scan)
    live = fetch(
        url,
        sql.SQL(
            "select count(*) from {} where deleted_at is null and airtable_id in ('rec0000000000000f', "
            "'rec0000000000000g')"
        )
        .format(sql.Identifier('we"ird; schema', HOSTILE_TABLE))
        .as_string(None),
    )
    assert live == [(2,)]
    assert fetch(url, "select status from airtable_sync.sync_run where scan_id = %s", scan) == [("failed",)]


def test_a_change_is_recorded_at_its_write_not_at_its_transactions_start(hostile):
    """A webhook pass opens its transaction before the payload request: latency runs up to the write itself."""
    url, store = hostile
    with transaction(connection_pool(url)) as cur:
        cur.execute("select now()")
        started = cur.fetchone()[0]
        cur.execute("select pg_sleep(0.3)")  # the payload request, in the same transaction
        store.writer.upsert(cur, [row("rec00000000000007", "Late")], "webhook")
        store.writer.tombstone(cur, ["rec00000000000007"], "webhook", None)
    events = "select kind, applied_at from airtable_sync.change_event where airtable_id = %s"
    applied = fetch(url, events, "rec00000000000007")
    assert sorted(kind for kind, _ in applied) == ["created", "deleted"]
    assert all((at - started).total_seconds() >= 0.3 for _, at in applied), (started, applied)
