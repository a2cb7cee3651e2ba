"""V1 (record read) cell values to V2 (webhook payload) cell values, API.md §1.4."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airtable_sandbox.events import Cells
from airtable_sandbox.webhooks import store_reads

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.store_reads import RecordStore

LinkedValues = dict[str, dict[str, Any]]  # link or lookup field → linked record → value

DEFAULT_PERMISSION_LEVEL = "create"


class CellConverter:
    """Converts one base's V1 cells to V2, reading schemas and linked records from the store.

    Made fresh per transaction: the schema cache then sees choices that ``typecast`` just added.
    """

    def __init__(self, store: RecordStore, base_id: str):
        self._store = store
        self._base_id = base_id
        self._fields_by_table: dict[str, dict[str, dict[str, Any]]] = {}

    def cells(
        self, table_id: str, cells: Cells, record_cells: Cells, linked_values: LinkedValues | None = None
    ) -> dict[str, Any]:
        """``record_cells``: the record's full V1 state at the same moment (lookups need its links).

        ``linked_values``: what the linked records held at that moment, per link or lookup field (linked record id
        → primary value or looked-up V1 value); without it, the store's current state of those records is read.
        """
        known = linked_values or {}
        return {
            field_id: self.value(table_id, field_id, value, record_cells, linked=known.get(field_id))
            for field_id, value in cells.items()
        }

    def value(
        self,
        table_id: str,
        field_id: str,
        value: Any,
        record_cells: Cells,
        *,
        nested: bool = False,
        linked: dict[str, Any] | None = None,
    ) -> Any:
        if value is None:
            return None
        schema = self._field(table_id, field_id)
        if schema is None:
            return value
        field_type = schema.get("type")
        if field_type in ("singleSelect", "externalSyncSource"):
            return self._choice(schema, value)
        if field_type in ("singleCollaborator", "createdBy", "lastModifiedBy"):
            return _collaborator(value)
        if not isinstance(value, list):  # every type below is a list in V1; anything else passes through untouched
            return value
        if field_type == "multipleSelects":
            return [self._choice(schema, name) for name in value]
        if field_type == "multipleRecordLinks":
            return self._links(schema, value, linked)
        if field_type == "multipleCollaborators":
            return [_collaborator(item) for item in value]
        if field_type == "multipleAttachments" and self._store.attachments is not None:
            return self._store.attachments.sign_cell(value)
        if field_type == "multipleLookupValues" and not nested:
            return self._lookup(table_id, schema, value, record_cells, linked)
        return value

    def _field(self, table_id: str, field_id: str) -> dict[str, Any] | None:
        if table_id not in self._fields_by_table:
            schema = store_reads.table_schema(self._store, self._base_id, table_id)
            self._fields_by_table[table_id] = {f["id"]: f for f in (schema or {}).get("fields", [])}
        return self._fields_by_table[table_id].get(field_id)

    @staticmethod
    def _choice(schema: dict[str, Any], value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for choice in (schema.get("options") or {}).get("choices", []):
            if choice.get("name") == value:
                return {key: choice[key] for key in ("id", "name", "color") if key in choice}
        return {"name": value}  # a choice the schema no longer knows: keep the name rather than lose the value

    def _links(
        self, schema: dict[str, Any], record_ids: list[str], names: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        linked_table = (schema.get("options") or {}).get("linkedTableId")
        return [
            {"id": record_id, "name": self._record_name(linked_table, record_id, names)} for record_id in record_ids
        ]

    def _record_name(self, table_id: str | None, record_id: str, names: dict[str, Any] | None) -> str:
        if names is not None and record_id in names:
            name = names[record_id]
        else:
            name = store_reads.primary_value(self._store, self._base_id, table_id, record_id) if table_id else None
        return "" if name is None else name if isinstance(name, str) else json.dumps(name)

    def _lookup(
        self, table_id: str, schema: dict[str, Any], value: list[Any], record_cells: Cells, known: dict[str, Any] | None
    ) -> Any:
        """Regroup by linked record: V1 flattens the looked-up values, V2 keeps them per linked record.

        The values are ``known`` (captured at write time) or else the store's current state of the linked records.
        """
        options = schema.get("options") or {}
        link_field = self._field(table_id, options.get("recordLinkFieldId", ""))
        linked_table = ((link_field or {}).get("options") or {}).get("linkedTableId")
        if link_field is None or linked_table is None:
            return value  # a broken lookup reads as [{"error": "#ERROR!"}]: keep the error visible
        looked_up_field = options.get("fieldIdInLinkedTable", "")
        linked_ids = list(record_cells.get(link_field["id"]) or [])
        values = {
            record_id: self._looked_up(linked_table, looked_up_field, record_id, known) for record_id in linked_ids
        }
        return {"valuesByLinkedRecordId": values, "linkedRecordIds": linked_ids}

    def _looked_up(self, table_id: str, field_id: str, record_id: str, known: dict[str, Any] | None) -> list[Any]:
        if known is not None and record_id in known:
            raw, linked_cells = known[record_id], {}
        else:
            record = store_reads.read_record(self._store, self._base_id, table_id, record_id)
            if record is None:
                return []
            linked_cells = record.get("fields", {})
            raw = linked_cells.get(field_id)
        value = self.value(table_id, field_id, raw, linked_cells, nested=True)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


def _collaborator(value: Any) -> Any:
    if isinstance(value, dict) and "permissionLevel" not in value:
        return {**value, "permissionLevel": DEFAULT_PERMISSION_LEVEL}
    return value
