"""The mirror rows an outbound push reads, and the record ids it writes back: the pusher's SQL on mirror tables.

A push reads each changed row's **current** state (never the outbox's copy), resolves links the app wrote as
Postgres row ids to Airtable ids, and after Airtable's answer locks the pushed rows — the row before its outbox
item, the order the app's write and its trigger take them, so the two never deadlock — and gives a row created
in Airtable its ``airtable_id``. Functions take the caller's cursor.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import Cursor, sql

from airtable_pg.spec import BaseSpec, TableSpec


def _mirror(base: BaseSpec, table: TableSpec) -> sql.Identifier:
    return sql.Identifier(base.schema, table.mirror)


def rows_by_id(cur: Cursor, base: BaseSpec, table: TableSpec, row_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """The rows as they are now, every column by name, by their Postgres id."""
    cur.execute(sql.SQL("select * from {} where id = any(%s)").format(_mirror(base, table)), (row_ids,))
    names = [column.name for column in cur.description]
    return {record[0]: dict(zip(names, record, strict=True)) for record in cur.fetchall()}


def airtable_ids(cur: Cursor, base: BaseSpec, table: TableSpec, row_ids: list[str]) -> dict[str, str | None]:
    """Each row's Airtable id (``None`` while its create has not come back) by its Postgres id as text."""
    cur.execute(
        sql.SQL("select id::text, airtable_id from {} where id = any(%s::uuid[])").format(_mirror(base, table)),
        (row_ids,),
    )
    return dict(cur.fetchall())


def lock_rows(cur: Cursor, base: BaseSpec, table: TableSpec, row_ids: list[uuid.UUID]) -> None:
    """Lock the rows (in id order) before their outbox items, as the app's write and its trigger do."""
    cur.execute(
        sql.SQL("select id from {} where id = any(%s) order by id for update").format(_mirror(base, table)),
        (sorted(row_ids),),
    )


def set_airtable_id(cur: Cursor, base: BaseSpec, table: TableSpec, row_id: uuid.UUID, airtable_id: Any) -> None:
    """A row created in Airtable learns its record id (a row that has one keeps it)."""
    cur.execute(
        sql.SQL("update {} set airtable_id = %s, synced_at = now() where id = %s and airtable_id is null").format(
            _mirror(base, table)
        ),
        (airtable_id, row_id),
    )
