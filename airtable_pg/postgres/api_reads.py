"""The mirror rows the API serves: live rows with a record id, in Airtable's default order, by key ranges.

Every read is one short statement (no transaction held across pages), so paging never blocks the sync, and a
listing's offset is a key (``airtable_created_time``, ``airtable_id``) rather than a position: rows inserted or
tombstoned between two pages shift nothing. A row the mirror has no record id or creation time for yet (a
Postgres-authoritative create the outbox has not pushed) is not an Airtable record yet, so it is never served; a
Postgres-authoritative row the app changed is served from its typed columns until its push is done.
Functions take the caller's cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from psycopg import Cursor, sql
from psycopg.types.json import set_json_loads

from airtable_pg import fast_json
from airtable_pg.names import STATE_SCHEMA
from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg.spec import BaseSpec, FieldSpec, TableSpec

T = TypeVar("T")


class Condition(NamedTuple):
    """A filter on the API's mirror source: SQL with ``%s`` placeholders and their values, in order (names and texts
    are values, never SQL text). ``airtable_pg.api.prefilter`` derives one from a formula."""

    text: sql.Composable
    params: tuple[object, ...]


Key = tuple[datetime, str]  # (airtable_created_time, airtable_id): the default order, and the keyset


@dataclass(frozen=True)
class MirrorRecord:
    id: str
    created: datetime
    fields: dict[str, Any]  # the canonical record-read cells by field id, as the sync stored them

    @property
    def key(self) -> Key:
        return (self.created, self.id)


STATEMENT_TIMEOUT_MS = 15_000


class MirrorReader:
    """The API's reads: each one statement on an autocommit connection of a pool of its own.

    A page is one round trip to Postgres, not four (no pool ping, no BEGIN, no COMMIT): a single statement sees
    one snapshot anyway. A connection Postgres dropped fails its request (503, the client retries) and is
    replaced, instead of every request paying a ping for that rare case. Writes never use this pool. No statement
    runs longer than :data:`STATEMENT_TIMEOUT_MS` (each reads a bounded batch; this bounds a sick database too).
    """

    def __init__(self, database_url: str, *, pool_size: int = 10) -> None:
        self._engine = sa.create_engine(
            sqlalchemy_url(database_url),
            pool_size=pool_size,
            max_overflow=pool_size,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "application_name": "airtable_pg api",
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            },
        )
        # Every page parses ~100 records' jsonb: with orjson instead of the standard library's parser.
        sa.event.listen(self._engine, "connect", lambda conn, _: set_json_loads(fast_json.loads, context=conn))

    def __call__(self, work: Callable[[Cursor], T]) -> T:
        raw = self._engine.raw_connection()
        try:
            with raw.driver_connection.cursor() as cur:  # type: ignore[union-attr]
                return work(cur)
        except BaseException:
            raw.invalidate()  # a failed statement may have left the connection unusable: never reuse it
            raise
        finally:
            raw.close()


MAX_PICKED_CELLS = 40  # jsonb_build_object takes at most 100 arguments; past this, reading all cells is as cheap

_LIVE = sql.SQL("airtable_id is not null and airtable_created_time is not null and deleted_at is null")


def _mirror(base: BaseSpec, table: TableSpec) -> sql.Composable:
    """The rows as the API reads them. A Postgres-authoritative table's row the app changed and the outbox has not
    pushed yet (or could not: a dead letter) is served with the cells its typed columns hold — Postgres is that
    table's truth, and the app must read its own write at once — rather than Airtable's last echo in ``fields``."""
    cached = _SOURCES.get(id(table))
    if cached is None or cached[0] is not table or cached[1] is not base:  # built once per spec table
        cached = _SOURCES[id(table)] = (table, base, _source(base, table))
    return cached[2]


# By the spec table object (kept alive here, so its id is not reused): another spec's table is another entry.
_SOURCES: dict[int, tuple[TableSpec, BaseSpec, sql.Composable]] = {}


def _source(base: BaseSpec, table: TableSpec) -> sql.Composable:
    mirror = sql.Identifier(base.schema, table.mirror)
    typed = _typed_cells(table) if table.is_postgres_authoritative else None
    if typed is None:
        return mirror
    field_ids, cells = typed
    return sql.SQL(
        "(select m.id, m.airtable_id, m.airtable_created_time, m.deleted_at, case when exists (select 1 "
        "from {outbox} o where o.mirror_schema = {schema} and o.mirror_table = {table} and o.row_id = m.id "
        "and o.status <> 'done') "
        "then (m.fields - {field_ids}::text[]) || (select coalesce(jsonb_object_agg(k, v), '{{}}'::jsonb) "
        "from jsonb_each({cells}) e(k, v) where v <> 'null'::jsonb) else m.fields end as fields from {mirror} m) t"
    ).format(
        outbox=sql.Identifier(STATE_SCHEMA, "outbox"),
        schema=sql.Literal(base.schema),
        table=sql.Literal(table.mirror),
        field_ids=sql.Literal(field_ids),
        cells=cells,
        mirror=mirror,
    )


def _typed_cells(table: TableSpec) -> tuple[list[str], sql.Composable] | None:
    """The writable fields whose typed columns have a record-read form, and a jsonb object of those cells (null
    for an empty one): the cells an app wrote in Postgres, as Airtable will answer them once pushed."""
    pairs: list[sql.Composable] = []
    field_ids: list[str] = []
    for f in table.fields.values():
        cell = None if f.is_computed else _typed_cell(f, sql.SQL("m.{}").format(sql.Identifier(f.column)))
        if cell is not None:
            field_ids.append(f.id)
            pairs.append(sql.SQL("{}::text, {}").format(sql.Literal(f.id), cell))
    if not pairs:
        return None
    chunks = [pairs[start : start + MAX_PICKED_CELLS] for start in range(0, len(pairs), MAX_PICKED_CELLS)]
    built = sql.SQL(" || ").join(sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(c)) for c in chunks)
    return field_ids, sql.SQL("({})").format(built)


def _typed_cell(f: FieldSpec, column: sql.Composable) -> sql.Composable | None:
    """One typed column as its record-read cell (SQL), or None when its form is not known here (kept as echoed)."""
    if f.pg_type == "text":
        return sql.SQL("to_jsonb(nullif({}, ''))").format(column)
    if f.pg_type in ("numeric", "integer", "bigint", "double precision", "date"):
        return sql.SQL("to_jsonb({})").format(column)
    if f.pg_type == "boolean":
        return sql.SQL("case when {} then 'true'::jsonb end").format(column)
    if f.pg_type == "timestamptz":  # Airtable's form: UTC, milliseconds, Z
        return sql.SQL("""to_jsonb(to_char({} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))""").format(column)
    if f.pg_type == "text[]" and f.is_link:  # a link the app wrote as a Postgres row id is not in Airtable yet
        return sql.SQL(
            "(select jsonb_agg(x order by n) from unnest({}) with ordinality u(x, n) where left(x, 3) = 'rec')"
        ).format(column)
    if f.pg_type == "text[]":
        return sql.SQL("case when cardinality({0}) > 0 then to_jsonb({0}) end").format(column)
    if f.pg_type == "jsonb":
        return sql.SQL("nullif(nullif(nullif({}, 'null'::jsonb), '[]'::jsonb), '{{}}'::jsonb)").format(column)
    return None


def records_after(
    cur: Cursor,
    base: BaseSpec,
    table: TableSpec,
    after: Key | None,
    limit: int,
    cells: list[str] | None = None,
    condition: Condition | None = None,
) -> list[MirrorRecord]:
    """Up to ``limit`` live records after ``after`` (from the start when ``None``), in the default order.

    ``cells``: read only these field ids (a sort or a formula needs a few cells of every row, not all of them).
    ``condition``: only rows meeting it (on the source's ``airtable_id`` and ``fields``; a formula's pre-filter),
    SQL with ``%s`` placeholders and its values (names and texts are values, never SQL text).
    """
    params = (*(after or ()), *(condition.params if condition is not None else ()), limit)
    if condition is None:  # the usual page: its statement is composed once per table, cells and first-or-next
        cur.execute(_page_statement(cur, base, table, after is not None, cells), params)
    else:
        cur.execute(_page_query(base, table, after is not None, cells, condition), params)
    return [MirrorRecord(*row) for row in cur.fetchall()]


def _page_query(
    base: BaseSpec, table: TableSpec, keyed: bool, cells: list[str] | None, condition: Condition | None
) -> sql.Composable:
    where = sql.SQL("{} and (airtable_created_time, airtable_id) > (%s, %s)").format(_LIVE) if keyed else _LIVE
    if condition is not None:
        where = sql.SQL("{} and {}").format(where, condition.text)
    return sql.SQL(
        "select airtable_id, airtable_created_time, {} from {} where {} order by airtable_created_time, airtable_id "
        "limit %s"
    ).format(_cells(cells), _mirror(base, table), where)


def _page_statement(cur: Cursor, base: BaseSpec, table: TableSpec, keyed: bool, cells: list[str] | None) -> bytes:
    """The page's statement as bytes, composed once (composing a Postgres-authoritative table's source took a
    tenth of a page's time). Keyed by the spec's objects, which the entry keeps alive, as ``_SOURCES`` is."""
    key = (id(base), id(table), keyed, None if cells is None else tuple(cells))
    cached = _PAGE_STATEMENTS.get(key)
    if cached is None or cached[0] is not table or cached[1] is not base:
        if len(_PAGE_STATEMENTS) >= _PAGE_STATEMENTS_KEPT:  # ``fields[]`` choices are the client's: bound the memory
            _PAGE_STATEMENTS.clear()
        cached = _PAGE_STATEMENTS[key] = (table, base, _page_query(base, table, keyed, cells, None).as_bytes(cur))
    return cached[2]


_PAGE_STATEMENTS: dict[tuple[int, int, bool, tuple[str, ...] | None], tuple[TableSpec, BaseSpec, bytes]] = {}
_PAGE_STATEMENTS_KEPT = 2048


def _cells(field_ids: list[str] | None) -> sql.Composable:
    if field_ids is None or len(field_ids) > MAX_PICKED_CELLS:
        return sql.SQL("fields")
    if not field_ids:
        return sql.SQL("'{}'::jsonb")
    # an absent cell becomes null: both read as empty (None), as they do from the stored object
    pairs = sql.SQL(", ").join(sql.SQL("{0}::text, fields -> {0}::text").format(sql.Literal(f)) for f in field_ids)
    return sql.SQL("jsonb_build_object({})").format(pairs)


def records_by_id(cur: Cursor, base: BaseSpec, table: TableSpec, record_ids: list[str]) -> dict[str, MirrorRecord]:
    """The live records among ``record_ids``, by id."""
    cur.execute(
        sql.SQL("select airtable_id, airtable_created_time, fields from {} where {} and airtable_id = any(%s)").format(
            _mirror(base, table), _LIVE
        ),
        (record_ids,),
    )
    return {row[0]: MirrorRecord(*row) for row in cur.fetchall()}
