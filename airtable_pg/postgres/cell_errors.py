"""Cell errors, explained from the mirror: per field, how many live rows hold a cell their typed column could not.

A cell error is a cell Airtable sent whose value the field's typed column cannot hold: Airtable's error values
(``{"error": "#ERROR!"}``, ``{"specialValue": "NaN"}`` from formulas, a failed AI cell) or a value of the wrong
shape. The column is then NULL while ``fields`` keeps the raw cell, keyed by field id: nothing is lost. So the
mirror itself answers which fields have them: the cell is present in ``fields`` and the column is NULL. One scan
of the table counts every field at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Cursor, sql

from airtable_pg.spec import BaseSpec, FieldSpec, TableSpec


@dataclass(frozen=True)
class FieldErrors:
    field: FieldSpec
    count: int
    example_record: str
    example_value: Any


def where_clause(field: FieldSpec) -> sql.Composed:
    """Live rows where this field's cell is in ``fields`` but its column is NULL.

    The column is tested first: Postgres stops at the first false condition, and ``fields ?`` decompresses the row's
    ``fields`` each time it is evaluated (a wide row's is stored compressed), so only rows with a NULL column pay it.
    """
    return sql.SQL("deleted_at is null and {} is null and fields ? {}").format(
        sql.Identifier(field.column), sql.Literal(field.id)
    )


def query_text(base: BaseSpec, table: TableSpec, field: FieldSpec) -> str:
    """The SQL a person runs (psql) to see one field's cell errors, raw cell beside the record id."""
    return (
        f"select airtable_id, fields -> '{field.id}' from {_quoted(base.schema)}.{_quoted(table.mirror)} "
        f"where deleted_at is null and fields ? '{field.id}' and {_quoted(field.column)} is null;"
    )


def field_errors(cur: Cursor, base: BaseSpec, table: TableSpec) -> list[FieldErrors]:
    """Every field of ``table`` with cell errors in live rows, most first, each with one example."""
    fields = list(table.fields.values())
    if not fields:
        return []
    counted = sql.SQL(", ").join(
        sql.SQL("count(*) filter (where {w}), min(airtable_id) filter (where {w})").format(w=where_clause(f))
        for f in fields
    )
    cur.execute(sql.SQL("select {} from {}").format(counted, sql.Identifier(base.schema, table.mirror)))
    row = cur.fetchone() or ()
    found = []
    for i, field in enumerate(fields):
        count, example = row[2 * i], row[2 * i + 1]
        if count:
            cur.execute(
                sql.SQL("select fields -> %s from {} where airtable_id = %s").format(
                    sql.Identifier(base.schema, table.mirror)
                ),
                (field.id, example),
            )
            found.append(FieldErrors(field, count, example, cur.fetchone()[0]))
    return sorted(found, key=lambda e: -e.count)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
