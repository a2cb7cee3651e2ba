"""What a mirror table is made of: the Postgres types a field may map to, and the columns every mirror has.

One registry each. The spec validates ``pg_type`` against :data:`PG_TYPES`, cell conversion has one
converter per type, the SQLAlchemy schema one column type per type, and the data-quality checks read the
Python type a column holds from here; adding a type means adding it here first, and the others refuse to
start until they know it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class PgType:
    name: str  # as written in the spec and in DDL
    python: type  # what a value of the typed column is in Python (psycopg's adaptation)


PG_TYPES: dict[str, PgType] = {
    t.name: t
    for t in (
        PgType("text", str),
        PgType("bigint", int),
        PgType("integer", int),
        PgType("numeric", Decimal),
        PgType("double precision", float),
        PgType("boolean", bool),
        PgType("date", dt.date),
        PgType("timestamptz", dt.datetime),
        PgType("text[]", list),
        PgType("jsonb", object),  # any JSON value
    )
}


@dataclass(frozen=True)
class FixedColumn:
    """A column every mirror table has, whatever its fields."""

    name: str
    pg_type: str
    description: str
    before_fields: bool  # columns are laid out: fixed head, one column per field, fixed tail
    nullable: bool = True
    unique: bool = False
    primary_key: bool = False


FIXED_COLUMNS: tuple[FixedColumn, ...] = (
    FixedColumn(
        "id",
        "uuid",
        "Postgres's own id (rows written by the app exist before Airtable knows them).",
        before_fields=True,
        nullable=False,
        primary_key=True,
    ),
    FixedColumn(
        "airtable_id",
        "text",
        "The Airtable record id (rec…); null until an outbound create returns it.",
        before_fields=True,
        unique=True,
    ),
    FixedColumn(
        "fields",
        "jsonb",
        "Every cell as Airtable returns it, keyed by field id (lossless).",
        before_fields=False,
        nullable=False,
    ),
    FixedColumn(
        "airtable_created_time", "timestamptz", "When the record was created in Airtable.", before_fields=False
    ),
    FixedColumn(
        "synced_at", "timestamptz", "When this row was last written by a sync.", before_fields=False, nullable=False
    ),
    FixedColumn(
        "deleted_at", "timestamptz", "Set when the record is gone from Airtable (tombstone).", before_fields=False
    ),
)

FIXED_COLUMN_NAMES = frozenset(c.name for c in FIXED_COLUMNS)
