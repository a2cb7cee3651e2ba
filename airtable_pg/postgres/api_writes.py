"""The API's writes to Postgres-authoritative mirror tables: the app's own kind of write, made for it.

A write here is what an app writing the mirror would do — typed columns and the row's ``fields`` cells, in one
transaction of the caller's, *not* marked as the sync's — so the outbox trigger captures it and the outbox pushes
it to Airtable exactly as any app write. Only the columns a request names are set (a PATCH must not put back a
value the app changed in Postgres but Airtable has not echoed yet). Deletes are tombstones, which the trigger
pushes as deletes.

``api_pending_write`` remembers a request whose rows are committed but whose answer (Airtable's record id) was not
given yet, keyed by a fingerprint of the request: the same request again resumes those rows instead of writing
them a second time. Functions take the caller's cursor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres import outbox
from airtable_pg.postgres.sync_state import state_table
from airtable_pg.spec import BaseSpec, TableSpec

PENDING_WRITE_DAYS = 7  # a pending write nobody retried is forgotten after this (its rows were pushed long since)


def _mirror(base: BaseSpec, table: TableSpec) -> sql.Identifier:
    return sql.Identifier(base.schema, table.mirror)


def _value(table: TableSpec, column: str, value: Any) -> Any:
    jsonb = {f.column for f in table.fields.values() if f.pg_type == "jsonb"}
    return Jsonb(value) if value is not None and column in jsonb else value


@dataclass(frozen=True)
class LiveRow:
    id: uuid.UUID
    airtable_id: str
    fields: dict[str, Any]


def lock_live_rows(cur: Cursor, base: BaseSpec, table: TableSpec, airtable_ids: list[str]) -> dict[str, LiveRow]:
    """The live rows of these records, locked (in id order, as the pusher locks them) until the transaction ends."""
    cur.execute(
        sql.SQL(
            "select id, airtable_id, fields from {} where airtable_id = any(%s) and deleted_at is null "
            "order by id for update"
        ).format(_mirror(base, table)),
        (airtable_ids,),
    )
    return {row[1]: LiveRow(*row) for row in cur.fetchall()}


def lock_for_upsert(cur: Cursor, base: BaseSpec, table: TableSpec) -> None:
    """One upsert at a time per table until the transaction ends: two requests merging on the same new key must
    not both find nothing and both create."""
    cur.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"airtable_pg api upsert {base.schema}.{table.mirror}",),
    )


def match_rows(
    cur: Cursor, base: BaseSpec, table: TableSpec, key: dict[str, Any]
) -> list[tuple[uuid.UUID, str | None]]:
    """Live rows whose typed ``key`` columns equal these values: ``(id, airtable_id)``, at most two (one is a
    match, two are Airtable's refusal)."""
    where = sql.SQL(" and ").join(
        sql.SQL("{} is not distinct from %s").format(sql.Identifier(column)) for column in key
    )
    cur.execute(
        sql.SQL("select id, airtable_id from {} where deleted_at is null and {} order by id limit 2").format(
            _mirror(base, table), where
        ),
        [_value(table, column, value) for column, value in key.items()],
    )
    return [(row[0], row[1]) for row in cur.fetchall()]


def insert_row(
    cur: Cursor, base: BaseSpec, table: TableSpec, columns: dict[str, Any], cells: dict[str, Any]
) -> uuid.UUID:
    """A new row (Postgres's own id; no record id until the outbox's create comes back)."""
    names = [sql.Identifier(c) for c in columns] + [sql.Identifier("fields")]
    cur.execute(
        sql.SQL("insert into {} ({}) values ({}) returning id").format(
            _mirror(base, table), sql.SQL(", ").join(names), sql.SQL(", ").join(sql.Placeholder() * len(names))
        ),
        [*(_value(table, c, v) for c, v in columns.items()), Jsonb(cells)],
    )
    return cur.fetchone()[0]


def update_row(
    cur: Cursor,
    base: BaseSpec,
    table: TableSpec,
    row_id: uuid.UUID,
    columns: dict[str, Any],
    cells: dict[str, Any],
    cleared: list[str],
) -> None:
    """Set these columns, and these cells of ``fields`` (``cleared`` field ids removed)."""
    sets = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns]
    sets.append(sql.SQL("fields = (fields - %s::text[]) || %s::jsonb"))
    cur.execute(
        sql.SQL("update {} set {} where id = %s").format(_mirror(base, table), sql.SQL(", ").join(sets)),
        [*(_value(table, c, v) for c, v in columns.items()), cleared, Jsonb(cells), row_id],
    )


def tombstone_rows(cur: Cursor, base: BaseSpec, table: TableSpec, row_ids: list[uuid.UUID]) -> None:
    """Delete as the app would (a tombstone): the trigger queues each record's delete in Airtable."""
    cur.execute(
        sql.SQL("update {} set deleted_at = now() where id = any(%s) and deleted_at is null").format(
            _mirror(base, table)
        ),
        (row_ids,),
    )


@dataclass(frozen=True)
class WrittenRow:
    """A row the API wrote, as its answer needs it: Airtable's id and cells once the outbox pushed it."""

    id: uuid.UUID
    airtable_id: str | None
    created: datetime | None
    fields: dict[str, Any]
    deleted: bool
    outbox_status: str | None  # pending | done | dead; None: no outbox item


def written_rows(
    cur: Cursor, base: BaseSpec, table: TableSpec, row_ids: list[uuid.UUID]
) -> dict[uuid.UUID, WrittenRow]:
    cur.execute(
        sql.SQL(
            "select m.id, m.airtable_id, m.airtable_created_time, m.fields, m.deleted_at is not null, o.status "
            "from {} m left join {} o on o.mirror_schema = %s and o.mirror_table = %s and o.row_id = m.id "
            "where m.id = any(%s)"
        ).format(_mirror(base, table), state_table("outbox")),
        (base.schema, table.mirror, row_ids),
    )
    return {row[0]: WrittenRow(*row) for row in cur.fetchall()}


# -- requests committed but not answered -----------------------------------------------------------------


@dataclass(frozen=True)
class PendingWrite:
    row_ids: list[uuid.UUID]
    created_ids: list[uuid.UUID]


def pending_write(cur: Cursor, fingerprint: str) -> PendingWrite | None:
    """The rows an earlier, unanswered copy of this request wrote. Until the transaction ends, a copy of the request
    arriving meanwhile waits here (and then finds these rows) rather than writing beside it."""
    cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 1))", (fingerprint,))
    cur.execute(
        sql.SQL("select row_ids, created_ids from {} where fingerprint = %s").format(state_table("api_pending_write")),
        (fingerprint,),
    )
    row = cur.fetchone()
    return PendingWrite(list(row[0]), list(row[1])) if row else None


def save_pending_write(cur: Cursor, fingerprint: str, base_id: str, table_id: str, written: PendingWrite) -> None:
    cur.execute(
        sql.SQL(
            "insert into {} (fingerprint, base_id, table_id, row_ids, created_ids) values (%s, %s, %s, %s, %s)"
        ).format(state_table("api_pending_write")),
        (fingerprint, base_id, table_id, written.row_ids, written.created_ids),
    )
    cur.execute(
        sql.SQL("delete from {} where created_at < now() - make_interval(days => %s)").format(
            state_table("api_pending_write")
        ),
        (PENDING_WRITE_DAYS,),
    )


def forget_pending_write(cur: Cursor, fingerprint: str) -> None:
    """The request was answered with its records: the same body again is a new request, as in Airtable."""
    cur.execute(
        sql.SQL("delete from {} where fingerprint = %s").format(state_table("api_pending_write")), (fingerprint,)
    )


def live_ids(cur: Cursor, base: BaseSpec, table: TableSpec, airtable_ids: list[str]) -> set[str]:
    """Those of these record ids that are live records of the table (a link may only name such a record)."""
    cur.execute(
        sql.SQL("select airtable_id from {} where airtable_id = any(%s) and deleted_at is null").format(
            _mirror(base, table)
        ),
        (airtable_ids,),
    )
    return {row[0] for row in cur.fetchall()}


@dataclass(frozen=True)
class RowState:
    """A row as it was before the API's write (every column by name), and its outbox item's status then."""

    columns: dict[str, Any]
    outbox_status: str | None  # None: the row had no outbox item


@dataclass
class Undo:
    """What puts the rows an API request changed back, should Airtable refuse the request."""

    before: dict[uuid.UUID, RowState] = field(default_factory=dict)
    created: set[uuid.UUID] = field(default_factory=set)  # rows the request inserted (nothing to put back)
    versions: dict[uuid.UUID, int] = field(default_factory=dict)  # each row's outbox version after the write


def row_state(cur: Cursor, base: BaseSpec, table: TableSpec, row_id: uuid.UUID) -> RowState:
    cur.execute(sql.SQL("select * from {} where id = %s").format(_mirror(base, table)), (row_id,))
    names = [column.name for column in cur.description]
    columns = dict(zip(names, cur.fetchone(), strict=True))
    return RowState(columns, _outbox_items(cur, base, table, [row_id]).get(row_id, (None, None))[0])


def outbox_versions(cur: Cursor, base: BaseSpec, table: TableSpec, row_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    return {row_id: version for row_id, (_, version) in _outbox_items(cur, base, table, row_ids).items()}


def _outbox_items(
    cur: Cursor, base: BaseSpec, table: TableSpec, row_ids: list[uuid.UUID], *, lock: bool = False
) -> dict[uuid.UUID, tuple[str, int]]:
    cur.execute(
        sql.SQL(
            "select row_id, status, version, id from {} where mirror_schema = %s and mirror_table = %s "
            "and row_id = any(%s)" + (" for update" if lock else "")
        ).format(state_table("outbox")),
        (base.schema, table.mirror, row_ids),
    )
    return {row[0]: (row[1], row[2]) for row in cur.fetchall()}


def undo_refused(
    cur: Cursor, base: BaseSpec, table: TableSpec, created_ids: list[uuid.UUID], undo: Undo | None
) -> None:
    """Airtable refused the request: as Airtable's refusal changes nothing, neither does the API's write.

    Written as the sync's, so no outbox change is queued for it. Created rows go (a row Airtable knows after all
    keeps it), with their outbox items; changed rows get their columns back and their outbox items the status they
    had, unless the app changed the row again since (its newer write stands). The refused changes' dead letters are
    closed as discarded.
    """
    outbox.mark_sync_origin(cur)
    cur.execute(
        sql.SQL("delete from {} where id = any(%s) and airtable_id is null returning id").format(_mirror(base, table)),
        (created_ids,),
    )
    gone = [row[0] for row in cur.fetchall()]
    cur.execute(
        sql.SQL(
            "delete from {} where mirror_schema = %s and mirror_table = %s and row_id = any(%s) returning id"
        ).format(state_table("outbox")),
        (base.schema, table.mirror, gone),
    )
    discarded = [row[0] for row in cur.fetchall()]
    if undo is not None and undo.before:
        items = _outbox_items(cur, base, table, list(undo.before), lock=True)
        for row_id, before in undo.before.items():
            status, version = items.get(row_id, (None, None))
            if status != "dead" or version != undo.versions.get(row_id) or before.outbox_status == "dead":
                continue  # changed again since, or a dead letter already before: left as it is
            _restore(cur, base, table, row_id, before.columns)
            discarded += _reset_item(cur, base, table, row_id, before.outbox_status)
    cur.execute(
        sql.SQL(
            "update {} set status = 'discarded', resolution_reason = %s, resolved_at = now(), updated_at = now() "
            "where direction = 'outbound' and status = 'open' and (payload ->> 'outbox_id')::bigint = any(%s)"
        ).format(state_table("dead_letter")),
        ("airtable-pg api: Airtable refused the request; the app was answered with the refusal", discarded),
    )


def _restore(cur: Cursor, base: BaseSpec, table: TableSpec, row_id: uuid.UUID, columns: dict[str, Any]) -> None:
    names = [name for name in columns if name != "id"]
    values = [Jsonb(columns[n]) if n == "fields" else _value(table, n, columns[n]) for n in names]
    cur.execute(
        sql.SQL("update {} set {} where id = %s").format(
            _mirror(base, table),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names),
        ),
        [*values, row_id],
    )


def _reset_item(cur: Cursor, base: BaseSpec, table: TableSpec, row_id: uuid.UUID, status: str | None) -> list[int]:
    """The row's outbox item as before the refused write (gone if it had none); the ids of the items touched."""
    where = sql.SQL("mirror_schema = %s and mirror_table = %s and row_id = %s")
    if status is None:
        cur.execute(
            sql.SQL("delete from {} where {} returning id").format(state_table("outbox"), where),
            (base.schema, table.mirror, row_id),
        )
    else:  # a pending one is pushed anew (its earlier change still has to reach Airtable); a done one rests
        cur.execute(
            sql.SQL(
                "update {} set status = %s, version = version + 1, attempts = 0, last_error = null, "
                "claimed_until = null, next_attempt_at = now(), history = '[]'::jsonb where {} returning id"
            ).format(state_table("outbox"), where),
            (status, base.schema, table.mirror, row_id),
        )
    return [row[0] for row in cur.fetchall()]
