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
ATTACHMENTS = "fldFiles000000001"

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
                        ATTACHMENTS: {
                            "name": "Files",
                            "type": "multipleAttachments",
                            "column": 'fi"les',
                            "pg_type": "jsonb",
                        },
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


def row(
    record_id: str,
    name: str,
    score: float | None = None,
    team: list[str] | None = None,
    files: list[dict] | None = None,
) -> MirrorRow:
    cells: dict = {"fldName0000000001": name}
    if score is not None:
        cells["fldScore000000001"] = score
    if team:
        cells["fldTeam0000000001"] = team
    if files is not None:
        cells[ATTACHMENTS] = files
    return MirrorRow(
        airtable_id=record_id,
        created_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        fields=cells,
        columns={
            'na"me; --': name,
            LONG_COLUMN: None if score is None else Decimal(str(score)),
            "team": team,
            "meta": {"text": "0123", "type": None},
            'fi"les': files,
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


def attachment(url: str, *, width: int = 640, filename: str = "cover.png") -> dict:
    """An attachment object as a record read returns it; ``url`` and the thumbnails' URLs change on later reads."""
    return {
        "id": "attCover000000001",
        "url": f"https://v5.airtableusercontent.com/{url}",
        "filename": filename,
        "size": 12345,
        "type": "image/png",
        "width": width,
        "height": 480,
        "thumbnails": {
            "small": {"url": f"https://v5.airtableusercontent.com/{url}/small", "width": 48, "height": 36},
            "large": {"url": f"https://v5.airtableusercontent.com/{url}/large", "width": 512, "height": 384},
        },
    }


def stored_files(url: str, record_id: str) -> tuple:
    return fetch(
        url,
        sql.SQL("select fields -> %s, {} from {} where airtable_id = %s")
        .format(sql.Identifier('fi"les'), sql.Identifier('we"ird; schema', HOSTILE_TABLE))
        .as_string(None),
        ATTACHMENTS,
        record_id,
    )[0]


def events_of(url: str, record_id: str) -> list[str]:
    found = fetch(url, "select kind from airtable_sync.change_event where airtable_id = %s order by id", record_id)
    return [kind for (kind,) in found]


def test_rotated_attachment_urls_alone_are_no_change(hostile):
    """Airtable hands out new URLs for the same attachment: the row is not rewritten, counted or evented."""
    url, writer = hostile
    record = "rec0000000000att1"
    assert writer.apply([row(record, "Files", files=[attachment("first")])]).inserted == 1
    rotated = writer.apply([row(record, "Files", files=[attachment("second")])], source="poll")
    assert (rotated.updated, rotated.unchanged) == (0, 1)
    assert not writer.would_change([row(record, "Files", files=[attachment("third")])])
    cell, column = stored_files(url, record)
    assert cell[0]["url"].endswith("/first") and column[0]["thumbnails"]["small"]["url"].endswith("/first/small")
    assert events_of(url, record) == ["created"]

    # A real change of the attachment (its size on screen, its name, a second file, none) is one, newest URLs kept.
    for files in (
        [attachment("fourth", width=800)],
        [attachment("fifth", width=800, filename="renamed.png")],
        [attachment("sixth", width=800, filename="renamed.png"), {**attachment("sixth"), "id": "attOther000000001"}],
        [],
    ):
        changed = writer.apply([row(record, "Files", files=files)], source="poll")
        assert changed.updated == 1, files
        assert stored_files(url, record)[0] == files
    assert writer.apply([row(record, "Files")], source="poll").updated == 1  # the cell emptied: absent, not []
    assert events_of(url, record) == ["created"] + ["updated"] * 5


def test_a_finished_run_records_tombstones_and_cell_errors_for_the_metrics(hostile):
    url, writer = hostile
    broken = row("rec0000000000err1", "Formula error")
    broken.fields["fldScore000000001"] = {"error": "#ERROR!"}  # kept raw in fields, the numeric column NULL
    writer.apply([broken, row("rec0000000000err2", "Gone soon")])
    scan, started = writer.start_scan("full")
    writer.apply([broken], scan_id=scan)
    writer.finish_scan(scan, tombstone_before=started)
    counts = fetch(
        url,
        sql.SQL(
            "select count(*) filter (where deleted_at is null), count(*) filter (where deleted_at is not null) from {}"
        )
        .format(sql.Identifier('we"ird; schema', HOSTILE_TABLE))
        .as_string(None),
    )[0]
    recorded = fetch(
        url,
        "select row_count, tombstones, cell_errors from airtable_sync.table_state where table_id = 'tblPeople00000001'",
    )
    assert recorded == [(counts[0], counts[1], 1)]
    assert counts[0] == 1 and counts[1] >= 1
    # A poll recounts rows and tombstones (cheap) and keeps the last full sync's cell errors (a look into fields).
    another = row("rec0000000000err3", "Another error")
    another.fields["fldScore000000001"] = {"specialValue": "NaN"}
    scan, _ = writer.start_scan("incremental")
    writer.apply([another], source="poll")
    writer.finish_scan(scan, tombstone_before=None)
    after_poll = fetch(
        url,
        "select row_count, tombstones, cell_errors from airtable_sync.table_state where table_id = 'tblPeople00000001'",
    )
    assert after_poll == [(counts[0] + 1, counts[1], 1)]


def test_a_poll_probe_records_the_oldest_record_airtable_has_and_the_mirror_lacks(hostile):
    url, writer = hostile
    writer.apply([row("rec0000000000prb1", "Here")])
    older, newer = row("rec0000000000prb2", "Missing, older"), row("rec0000000000prb3", "Missing, newer")
    older.created_time = datetime(2020, 1, 1, tzinfo=UTC)
    writer.record_probe([row("rec0000000000prb1", "Here"), newer, older])
    probe = "select probe_missing, probe_missing_record_id, probe_missing_created_at from airtable_sync.table_state "
    probe += "where table_id = 'tblPeople00000001'"
    assert fetch(url, probe) == [(2, "rec0000000000prb2", datetime(2020, 1, 1, tzinfo=UTC))]
    writer.record_probe([row("rec0000000000prb1", "Here")])
    assert fetch(url, probe) == [(0, None, None)]
