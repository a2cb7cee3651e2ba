"""The cutover drill's probe row: written and deleted as an app writes a Postgres-authoritative mirror table."""

from __future__ import annotations

import uuid

from psycopg import Cursor, sql

from airtable_pg.spec import BaseSpec, TableSpec


def insert_probe(cur: Cursor, base: BaseSpec, table: TableSpec, column: str, text: str) -> uuid.UUID:
    cur.execute(
        sql.SQL("insert into {} ({}) values (%s) returning id").format(
            sql.Identifier(base.schema, table.mirror), sql.Identifier(column)
        ),
        (text,),
    )
    return cur.fetchone()[0]


def probe_airtable_id(cur: Cursor, base: BaseSpec, table: TableSpec, row_id: uuid.UUID) -> str | None:
    cur.execute(
        sql.SQL("select airtable_id from {} where id = %s").format(sql.Identifier(base.schema, table.mirror)), (row_id,)
    )
    row = cur.fetchone()
    return row[0] if row else None


def delete_probe(cur: Cursor, base: BaseSpec, table: TableSpec, row_id: uuid.UUID) -> None:
    cur.execute(sql.SQL("delete from {} where id = %s").format(sql.Identifier(base.schema, table.mirror)), (row_id,))
