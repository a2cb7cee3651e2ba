"""Reading a record as Airtable shows it: stored cells decoded lazily, computed cells derived on demand.

A view needs the record's base (links, lookups) and the collaborators (to expand collaborator ids), not the store:
writes, listings and transactions all read records through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import airtable_formula as formulas
from airtable_formula.written_cells import plain_text, tidy_number
from airtable_sandbox.clock import iso_millis
from airtable_sandbox.store.cells import COLLABORATOR_TYPES, NUMBER_TYPES, is_empty, is_error_value, is_stored

if TYPE_CHECKING:
    from airtable_sandbox.store.cells import Cells
    from airtable_sandbox.store.tables import Base, Record, Table
    from airtable_sandbox.store.users import Collaborators


MAX_NESTED_READS = 6  # lookups of lookups of …; Airtable forbids cycles, we just refuse to recurse forever


class RecordView:
    """One record as Airtable shows it: stored cells decoded lazily, computed cells derived on demand.

    It is also the ``RecordContext`` the formula engine evaluates against (``record_id``,
    ``created_time``, ``last_modified_time``, ``cell(name_or_id)``).
    """

    __slots__ = ("_base", "_busy", "_collaborators", "_computed", "_depth", "_now", "_stored", "record", "table")

    def __init__(
        self, collaborators: Collaborators, base: Base, table: Table, record: Record, now: datetime, depth: int = 0
    ) -> None:
        self._collaborators = collaborators
        self._base = base
        self.table = table
        self.record = record
        self._now = now
        self._depth = depth
        self._stored: Cells | None = None
        self._computed: dict[str, Any] = {}
        self._busy: set[str] = set()

    @property
    def record_id(self) -> str:
        return self.record.id

    @property
    def created_time(self) -> datetime:
        return datetime.fromtimestamp(self.record.created, tz=UTC)

    @property
    def last_modified_time(self) -> datetime:
        return datetime.fromtimestamp(self.record.modified, tz=UTC)

    def cell(self, field_ref: str) -> Any:
        field_schema = self.table.field(field_ref)
        if field_schema is None:
            raise formulas.FormulaError(f"Unknown field names: {field_ref}")
        return self.value(field_schema["id"])

    def stored(self) -> Cells:
        if self._stored is None:
            self._stored = self.table.decode(self.record)
        return self._stored

    def value(self, field_id: str) -> Any:
        """The V1 value of one field (``None`` when empty)."""
        field_schema = self.table.fields_by_id[field_id]
        field_type = field_schema["type"]
        if field_type == "multipleRecordLinks":
            return self._existing_links(field_schema)
        if field_type in COLLABORATOR_TYPES or field_type in ("createdBy", "lastModifiedBy"):
            return self._collaborators.expand(self.stored().get(field_id))
        if field_type == "lastModifiedTime" and is_stored(field_schema):  # stored as epoch seconds
            moment = self.stored().get(field_id)
            return None if moment is None else _time_value(moment, field_schema.get("options") or {})
        if is_stored(field_schema):
            return self.stored().get(field_id)
        if field_id in self._computed:
            return self._computed[field_id]
        if field_id in self._busy:  # a reference cycle: Airtable refuses these, we answer an error value
            return {"error": "#ERROR!"}
        self._busy.add(field_id)
        try:
            result = self._compute(field_schema)
        finally:
            self._busy.discard(field_id)
        result = None if is_empty(result) else result
        self._computed[field_id] = result
        return result

    def cells(self, field_ids: Iterable[str] | None = None) -> Cells:
        ids = self.table.fields_by_id.keys() if field_ids is None else field_ids
        values = ((field_id, self.value(field_id)) for field_id in ids)
        return {field_id: value for field_id, value in values if value is not None}

    def as_record(self, field_ids: Iterable[str] | None = None) -> dict[str, Any]:
        return {"id": self.record.id, "createdTime": iso_millis(self.record.created), "fields": self.cells(field_ids)}

    def linked_values(self) -> dict[str, dict[str, Any]]:
        """Per link or lookup field: linked record id → its primary value (links) or looked-up value (lookups)."""
        result: dict[str, dict[str, Any]] = {}
        for field_schema in self.table.schema["fields"]:
            field_type, options = field_schema["type"], field_schema.get("options") or {}
            if field_type == "multipleRecordLinks":
                link_field, target_id = field_schema, None
            elif field_type == "multipleLookupValues":
                link_field = self.table.fields_by_id.get(options.get("recordLinkFieldId") or "")
                target_id = options.get("fieldIdInLinkedTable")
            else:
                continue
            linked = self._base.linked_table(link_field) if link_field else None
            if link_field is None or linked is None or self._depth >= MAX_NESTED_READS:
                continue
            target_id = target_id or linked.schema["primaryFieldId"]
            if target_id not in linked.fields_by_id:
                continue
            result[field_schema["id"]] = {
                record_id: self._linked(linked, record_id).value(target_id)
                for record_id in self.value(link_field["id"]) or []
            }
        return result

    def _linked(self, linked: Table, record_id: str) -> RecordView:
        return RecordView(
            self._collaborators, self._base, linked, linked.records[record_id], self._now, self._depth + 1
        )

    # -- computed fields -------------------------------------------------------------------------------

    def _existing_links(self, field_schema: Mapping[str, Any]) -> list[str] | None:
        # A one-way link keeps ids of records deleted since; Airtable drops them, so we filter on read.
        ids = self.stored().get(field_schema["id"])
        if not ids:
            return None
        linked = self._base.linked_table(field_schema)
        if linked is None:
            return list(ids)
        present = [record_id for record_id in ids if record_id in linked.records]
        return present or None

    def _compute(self, field_schema: Mapping[str, Any]) -> Any:
        field_type = field_schema["type"]
        options = field_schema.get("options") or {}
        if field_type == "formula":
            return self._formula(field_schema["id"])
        if field_type == "multipleLookupValues":
            return self._lookup(options)
        if field_type == "rollup":
            private = field_schema.get("_sandbox") or {}
            return _rollup(self._lookup(options) or [], private.get("rollup"), (options.get("result") or {}))
        if field_type == "count":
            return len(self.value(options["recordLinkFieldId"]) or [])
        if field_type == "createdTime":
            return _time_value(self.record.created, options)
        if field_type == "lastModifiedTime":
            return _time_value(self.record.modified, options)
        if field_type == "button":
            return {"label": options["label"], "url": None} if options.get("label") else None
        return None

    def _formula(self, field_id: str) -> Any:
        parsed = self.table.formula_of(field_id)
        if parsed is None:
            return {"error": "#ERROR!"}
        try:
            return formulas.to_cell_value(parsed.evaluate(self, self._now))
        except formulas.FormulaError:
            # a field the formula references no longer exists: Airtable shows #ERROR! in the cell
            return {"error": "#ERROR!"}

    def _lookup(self, options: Mapping[str, Any]) -> list[Any] | None:
        link_id, target_id = options.get("recordLinkFieldId"), options.get("fieldIdInLinkedTable")
        link_field = self.table.fields_by_id.get(link_id or "")
        linked = self._base.linked_table(link_field) if link_field else None
        if link_field is None or linked is None or target_id not in linked.fields_by_id:
            return [{"error": "#ERROR!"}]
        if self._depth >= MAX_NESTED_READS:
            return [{"error": "#ERROR!"}]
        values: list[Any] = []
        for record_id in self.value(link_id) or []:
            value = self._linked(linked, record_id).value(target_id)
            if isinstance(value, list):
                values.extend(value)
            elif value is not None:
                values.append(value)
        return values or None


def _time_value(moment: float, options: Mapping[str, Any]) -> str:
    if (options.get("result") or {}).get("type") == "date":
        return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d")
    return iso_millis(moment)


def _rollup(values: list[Any], function: str | None, result: Mapping[str, Any]) -> Any:
    """Aggregate lookup values the way the rollup's (private) function says; errors propagate."""
    numeric_result = result.get("type") in NUMBER_TYPES or result.get("type") is None
    function = (function or ("SUM" if numeric_result else "ARRAYJOIN")).upper()
    if function == "ARRAYJOIN":
        return ", ".join(plain_text(v) for v in values)
    if function == "COUNTA":
        return len(values)
    errors = [v for v in values if is_error_value(v)]
    if errors:
        return errors[0]
    numbers = [v for v in (_as_number(v) for v in values) if v is not None]
    if function == "SUM":
        return tidy_number(sum(numbers))
    if function in ("MAX", "MIN"):
        return tidy_number((max if function == "MAX" else min)(numbers)) if numbers else 0
    if function == "AVERAGE":
        return tidy_number(sum(numbers) / len(numbers)) if numbers else {"specialValue": "NaN"}
    return {"error": "#ERROR!"}


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
