"""Schema changes a person makes in the UI: adding and changing fields."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airtable_pg.sandbox.http import ApiError, unprocessable
from airtable_pg.sandbox.store.cells import new_id

if TYPE_CHECKING:
    from airtable_pg.sandbox.store.core import Store


def add_field(store: Store, base_id: str, table_ref: str, field_schema: Mapping[str, Any]) -> dict[str, Any]:
    """Add a field (schema drift as a person would cause it); returns its schema."""
    base = store.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        name = field_schema.get("name")
        if not isinstance(name, str) or not name.strip() or not isinstance(field_schema.get("type"), str):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "A field needs a non-empty name and a type")
        if name in table.fields_by_name:
            raise unprocessable("DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field name "{name}" is already used')
        created = {"id": field_schema.get("id") or new_id("fld"), **dict(field_schema)}
        table.schema["fields"].append(created)
        table.reindex()
        return copy.deepcopy(created)


def update_field(
    store: Store, base_id: str, table_ref: str, field_id: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Rename a field and/or change its description."""
    base = store.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        field_schema = table.fields_by_id.get(field_id)
        if field_schema is None:
            raise ApiError(404, "NOT_FOUND", f"Field {field_id} not found")
        new_name = changes.get("name", field_schema["name"])
        if new_name != field_schema["name"] and new_name in table.fields_by_name:
            raise unprocessable("DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field name "{new_name}" is already used')
        field_schema["name"] = new_name
        if "description" in changes:
            field_schema["description"] = changes["description"]
        table.reindex()
        return copy.deepcopy(field_schema)
