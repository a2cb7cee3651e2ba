"""Webhook payload cells ("V2") → the record-read form ("V1", ``returnFieldsByFieldId``) the mirror stores.

Both paths into the mirror must agree cell for cell, or a full sync after a webhook would rewrite every row
it touched. The differences (API.md §1.4): selects and sync sources arrive as ``{id, name, color}`` (V1: the
name), links as ``[{id, name}]`` (V1: ids), collaborators with ``permissionLevel``/``profilePicUrl`` (V1:
without), lookups as ``{valuesByLinkedRecordId, linkedRecordIds}`` (V1: the values flattened in link order,
each itself in V1 form). A cleared cell is ``null`` in a payload and absent in a record read.

Fields the spec does not know keep their payload form: without the field's type there is no safe conversion,
and the next poll or full sync re-reads them (their data is never lost: it lands in ``fields``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airtable_pg.spec import FieldSpec, TableSpec

_CHOICE_TYPES = frozenset({"singleSelect", "externalSyncSource"})
_COLLABORATOR_TYPES = frozenset({"singleCollaborator", "createdBy", "lastModifiedBy"})
_V2_ONLY_COLLABORATOR_KEYS = ("permissionLevel", "profilePicUrl")

CellConverter = Callable[[Any], Any]


def _choice(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) and "name" in value else value


def _choices(value: Any) -> Any:
    return [_choice(item) for item in value] if isinstance(value, list) else value


def _links(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [item.get("id") if isinstance(item, dict) and "id" in item else item for item in value]


def _collaborator(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if key not in _V2_ONLY_COLLABORATOR_KEYS}


def _collaborators(value: Any) -> Any:
    return [_collaborator(item) for item in value] if isinstance(value, list) else value


def _same(value: Any) -> Any:
    return value


def _checkbox(value: Any) -> Any:
    return value if value is not False else None  # an unchecked box is absent from a record read


def converter_for(field_type: str | None) -> CellConverter:
    if field_type in _CHOICE_TYPES:
        return _choice
    if field_type == "multipleSelects":
        return _choices
    if field_type == "multipleRecordLinks":
        return _links
    if field_type in _COLLABORATOR_TYPES:
        return _collaborator
    if field_type == "multipleCollaborators":
        return _collaborators
    if field_type == "checkbox":
        return _checkbox
    return _same


def _lookup(looked_up_type: str | None) -> CellConverter:
    convert_one = converter_for(looked_up_type)

    def convert(value: Any) -> Any:
        if not isinstance(value, dict) or "valuesByLinkedRecordId" not in value:
            return value  # already flat (or an error value): keep it
        by_record = value.get("valuesByLinkedRecordId") or {}
        flat: list[Any] = []
        for record_id in value.get("linkedRecordIds") or list(by_record):
            for item in by_record.get(record_id) or []:
                converted = convert_one(item)
                # A looked-up list (links, multiple selects) is flattened into the lookup's list in a record read.
                flat.extend(converted if isinstance(converted, list) else [converted])
        return flat

    return convert


def _field_converter(field: FieldSpec) -> CellConverter:
    if field.type == "multipleLookupValues":
        return _lookup(field.result_type)
    return converter_for(field.type)


class PayloadCells:
    """Converts one spec table's payload cells; build once per table, call per record."""

    def __init__(self, table: TableSpec) -> None:
        self._converters = {field_id: _field_converter(f) for field_id, f in table.fields.items()}

    def to_record_cells(self, cells: Mapping[str, Any]) -> dict[str, Any]:
        """V2 cells → V1 cells; a ``null`` (cleared) cell becomes ``None`` for the caller to drop."""
        converted: dict[str, Any] = {}
        for field_id, value in cells.items():
            if value is None:
                converted[field_id] = None
                continue
            convert = self._converters.get(field_id, _same)
            result = convert(value)
            # A record read omits empty cells: an empty list is simply absent.
            converted[field_id] = None if result == [] else result
        return converted


def merge_cells(stored: Mapping[str, Any], *changes: Mapping[str, Any]) -> dict[str, Any]:
    """The record's cells after ``changes`` (V1, in order), where ``None`` clears a cell."""
    merged = dict(stored)
    for change in changes:
        for field_id, value in change.items():
            if value is None:
                merged.pop(field_id, None)
            else:
                merged[field_id] = value
    return merged
