"""One Airtable record (as read with ``returnFieldsByFieldId``) → one mirror row.

Each spec field becomes a typed column value per its ``pg_type``. Airtable error values
(``{"error": "#ERROR!"}``, ``{"specialValue": "NaN"}``) and values that do not fit the column (a
formula that returned text into a numeric column, a number too large for ``integer`` …) become NULL
and are counted as cell errors — never an exception, since one bad cell must not stop a sync of a
million rows. Nothing is lost either way: the untouched cells dict goes to the ``fields`` jsonb —
except a cell Postgres cannot hold at all (a NUL character): it goes there escaped
(``airtable.escaping``), its column is NULL, and it counts as a cell error.

This runs on every record of every sync, so each field's conversion is chosen once per table and
the per-record loop is a dictionary lookup and one function call per field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from math import isfinite
from typing import Any

from pyairtable.api.types import is_airtable_error

from airtable_pg.airtable.escaping import escape_cell, unstorable_cells
from airtable_pg.mirror_model import PG_TYPES
from airtable_pg.rows import MirrorRow
from airtable_pg.spec import FieldSpec, TableSpec

_NO_FIT = object()  # returned by a converter when a value does not fit its column
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

Converter = Callable[[Any], Any]


def _text(value: Any) -> Any:
    if type(value) is str:  # text Postgres cannot hold never gets here: RecordConverter escapes it first
        return value
    if type(value) in (int, float):  # a formula typed as text may compute a number
        return str(value)
    return _NO_FIT


def _integer_in(bounds: tuple[int, int]) -> Converter:
    low, high = bounds

    def convert(value: Any) -> Any:
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is int and low <= value <= high:
            return value
        return _NO_FIT

    return convert


def _numeric(value: Any) -> Any:
    if type(value) is int:
        return Decimal(value)
    if type(value) is float and isfinite(value):
        return Decimal(repr(value))  # repr: the shortest decimal that round-trips, not the binary expansion
    return _NO_FIT


def _double(value: Any) -> Any:
    if type(value) in (int, float):
        return float(value)
    return _NO_FIT


def _boolean(value: Any) -> Any:
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):  # boolean formulas may answer 1 / 0
        return bool(value)
    return _NO_FIT


def _date(value: Any) -> Any:
    if type(value) is not str:
        return _NO_FIT
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        # Formulas and rollups whose result is a date answer with a full UTC timestamp.
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _NO_FIT
    return moment.date() if moment.tzinfo is not None else _NO_FIT


def _timestamptz(value: Any) -> Any:
    if type(value) is not str:
        return _NO_FIT
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _NO_FIT
    return moment if moment.tzinfo is not None else _NO_FIT  # never guess a time zone


def _text_array(value: Any) -> Any:
    if type(value) is list and all(type(item) is str for item in value):
        return value
    return _NO_FIT


def _jsonb(value: Any) -> Any:
    return value


CONVERTERS: dict[str, Converter] = {
    "text": _text,
    "bigint": _integer_in(_INT64),
    "integer": _integer_in(_INT32),
    "numeric": _numeric,
    "double precision": _double,
    "boolean": _boolean,
    "date": _date,
    "timestamptz": _timestamptz,
    "text[]": _text_array,
    "jsonb": _jsonb,
}
if set(CONVERTERS) != set(PG_TYPES):  # a type added to the registry must get a converter before anything runs
    raise ImportError(f"cell converters and PG_TYPES disagree: {sorted(set(CONVERTERS) ^ set(PG_TYPES))}")


@dataclass(frozen=True)
class _Column:
    field_id: str
    name: str
    convert: Converter
    when_absent: Any  # Airtable omits empty cells: an unchecked checkbox is absent, and means False


def _unless_ai_error(convert: Converter) -> Converter:
    """An aiText cell whose generation failed (``{"state": "error", "errorType": …, "value": null}``) is Airtable's
    error value for that field type, as ``{"error": "#ERROR!"}`` is a formula's: NULL and a cell error."""

    def convert_ai_text(value: Any) -> Any:
        if type(value) is dict and value.get("state") == "error":
            return _NO_FIT
        return convert(value)

    return convert_ai_text


def _column(f: FieldSpec) -> _Column:
    when_absent = False if f.type == "checkbox" and f.pg_type == "boolean" else None
    convert = CONVERTERS[f.pg_type]
    if f.type == "aiText":
        convert = _unless_ai_error(convert)
    return _Column(f.id, f.column, convert, when_absent)


@dataclass
class ConvertedPage:
    rows: list[MirrorRow]
    cell_errors: int


class RecordConverter:
    """Converts records of one spec table; build once per sync, call per page."""

    def __init__(self, table: TableSpec) -> None:
        self.table = table
        self._columns = [_column(f) for f in table.fields.values()]
        self._links = [f.id for f in table.link_fields]
        # The record's own modification time is not part of a record read; a whole-record
        # lastModifiedTime field, when the spec has one, is the best source for change latency.
        self._modified_fields = [f.id for f in table.fields.values() if f.type == "lastModifiedTime"]

    def row(self, record: Mapping[str, Any]) -> tuple[MirrorRow, int]:
        """One record → ``(row, cell errors in it)``."""
        cells: dict[str, Any] = record.get("fields") or {}
        columns: dict[str, Any] = {}
        unstorable = unstorable_cells(cells)
        errors = len(unstorable)  # each is a cell error, whether or not the spec gives it a column
        for column in self._columns:
            value = cells.get(column.field_id)
            if value is None:
                columns[column.name] = column.when_absent
                continue
            if unstorable and column.field_id in unstorable:
                columns[column.name] = None
                continue
            if type(value) is dict and is_airtable_error(value):
                columns[column.name] = None
                errors += 1
                continue
            converted = column.convert(value)
            if converted is _NO_FIT:
                columns[column.name] = None
                errors += 1
            else:
                columns[column.name] = converted
        links = {field_id: _record_ids(cells.get(field_id)) for field_id in self._links}
        if unstorable:  # a link cell Postgres cannot hold joins nothing; fields keeps it, escaped
            links.update((field_id, []) for field_id in self._links if field_id in unstorable)
        row = MirrorRow(
            airtable_id=record["id"],
            created_time=_timestamp(record.get("createdTime")),
            fields=_escaped(cells, unstorable) if unstorable else cells,
            columns=columns,
            links=links,
            modified_time=self._modified_time(cells),
        )
        return row, errors

    def page(self, records: Iterable[Mapping[str, Any]]) -> ConvertedPage:
        """Rows of one page, sorted by record id.

        Two syncs of one table may write overlapping pages at the same time (a Dagster run and a CLI);
        upserting rows in one global order makes their row locks queue instead of deadlocking.
        """
        rows: list[MirrorRow] = []
        errors = 0
        for record in records:
            row, row_errors = self.row(record)
            rows.append(row)
            errors += row_errors
        rows.sort(key=_by_record_id)
        return ConvertedPage(rows, errors)

    def _modified_time(self, cells: Mapping[str, Any]) -> datetime | None:
        for field_id in self._modified_fields:
            moment = _timestamp(cells.get(field_id))
            if moment is not None:
                return moment
        return None


def _escaped(cells: Mapping[str, Any], unstorable: frozenset[str] | set[str]) -> dict[str, Any]:
    return {field_id: escape_cell(value) if field_id in unstorable else value for field_id, value in cells.items()}


def _by_record_id(row: MirrorRow) -> str:
    return row.airtable_id


def _record_ids(value: Any) -> list[str]:
    if type(value) is list:
        return [item for item in value if type(item) is str]
    return []


def _timestamp(value: Any) -> datetime | None:
    converted = _timestamptz(value)
    return None if converted is _NO_FIT else converted
