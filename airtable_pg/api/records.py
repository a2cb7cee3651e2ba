"""A mirror record as Airtable answers it, and as the formula engine reads it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airtable_formula import FormulaError
from airtable_formula.timestamps import iso_millis
from airtable_pg.airtable.escaping import ESCAPED_KEY, unescape_cell
from airtable_pg.api.tables import ServedTable
from airtable_pg.postgres.api_reads import MirrorRecord


def shape(served: ServedTable, record: MirrorRecord, *, by_field_id: bool, field_ids: Sequence[str] | None) -> dict:
    """``{"id", "createdTime", "fields"}``: the spec's cells (all, or those asked for) by name or field id.

    The stored cells are already Airtable's record-read form (empty cells absent), so they are passed on as they are,
    but for the few Postgres cannot hold (a NUL character), which the sync stored escaped.
    """
    cells = record.fields
    names = served.names
    if field_ids is not None:
        names = {field_id: names[field_id] for field_id in field_ids}
    # Every served record passes here: one pass over its stored (non-empty) cells, not over every field of the spec.
    # Cells come in the stored object's order; Airtable promises no order of a record's fields either.
    fields = {
        (field_id if by_field_id else names[field_id]): (
            unescape_cell(value) if type(value) is dict and ESCAPED_KEY in value else value
        )
        for field_id, value in cells.items()
        if value is not None and field_id in names
    }
    return {"id": record.id, "createdTime": iso_millis(record.created), "fields": fields}


class LastModifiedUnknown(FormulaError):
    """The mirror keeps no last-modified time per record, so LAST_MODIFIED_TIME() has no honest answer."""


class MirrorContext:
    """One mirror record as the formula engine's ``RecordContext``: cells by field name or id."""

    __slots__ = ("_record", "_served")

    def __init__(self, served: ServedTable, record: MirrorRecord) -> None:
        self._served = served
        self._record = record

    @property
    def record_id(self) -> str:
        return self._record.id

    @property
    def created_time(self) -> datetime:
        return self._record.created

    @property
    def last_modified_time(self) -> datetime:
        raise LastModifiedUnknown("LAST_MODIFIED_TIME()")

    def cell(self, field_ref: str) -> Any:
        spec = self._served.field(field_ref)
        if spec is None:  # refs are checked before a scan starts; this guards a spec changed mid-request
            raise FormulaError(f"Unknown field names: {field_ref}")
        return unescape_cell(self._record.fields.get(spec.id))
