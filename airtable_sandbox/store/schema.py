"""Schema changes, from the metadata API or a person in the UI: tables and fields created, changed, destroyed.

Each change is one transaction, so webhooks see it (``createdFieldsById``, ``changedFieldsById``,
``destroyedFieldIds``, ``changedMetadata``, ``createdTablesById``, ``destroyedTableIds``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airtable_sandbox.events import ChangedField, ChangedMetadata, CreatedTable, FieldInfo, TableChanges
from airtable_sandbox.http import ApiError, unprocessable
from airtable_sandbox.store.cell_writer import CellWriter
from airtable_sandbox.store.cells import is_empty, is_stored, new_id
from airtable_sandbox.store.tables import Table
from airtable_sandbox.store.transactions import new_transaction
from airtable_sandbox.store.users import UI_ACTOR, Actor

if TYPE_CHECKING:
    from airtable_sandbox.store.state import StoreState
    from airtable_sandbox.store.tables import Base

FIELD_KEYS = frozenset({"name", "type", "options", "description", "_sandbox"})  # _sandbox: e.g. a rollup's function
TABLE_KEYS = frozenset({"name", "description", "fields"})


def field_info(field_schema: Mapping[str, Any]) -> FieldInfo:
    """A field as webhook payloads describe it."""
    return {"name": field_schema["name"], "type": field_schema["type"]}


def add_field(
    state: StoreState, base_id: str, table_ref: str, field_schema: Mapping[str, Any], actor: Actor = UI_ACTOR
) -> dict[str, Any]:
    """Add a field; returns its schema."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        created = _new_field(field_schema, taken=set(table.fields_by_name))
        table.schema["fields"].append(created)
        table.reindex()
        changes = TableChanges(table.id, created_fields={created["id"]: field_info(created)})
        _publish(state, base, actor, [changes])
        return copy.deepcopy(created)


def update_field(
    state: StoreState, base_id: str, table_ref: str, field_id: str, changes: Mapping[str, Any], actor: Actor = UI_ACTOR
) -> dict[str, Any]:
    """Rename a field, change its description, or (admin routes) its type and options; returns its schema.

    A new type converts the stored cells the way ``typecast`` would and clears the ones it cannot convert.
    """
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        field_schema = table.fields_by_id.get(field_id)
        if field_schema is None:
            raise ApiError(404, "NOT_FOUND", f"Field {field_id} not found")
        new_name = changes.get("name", field_schema["name"])
        if new_name != field_schema["name"] and new_name in table.fields_by_name:
            raise unprocessable("DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field name "{new_name}" is already used')
        before = copy.deepcopy(field_schema)
        field_schema["name"] = new_name
        if "description" in changes:
            field_schema["description"] = changes["description"]
        if "type" in changes:
            field_schema["type"] = changes["type"]
            field_schema.pop("options", None)
        if "options" in changes:
            field_schema["options"] = copy.deepcopy(changes["options"])
        table.reindex()
        if before["type"] != field_schema["type"] or before.get("options") != field_schema.get("options"):
            _convert_cells(state, base, table, before, field_schema)
        info_before, info_after = field_info(before), field_info(field_schema)
        changed = {key for key in info_after if info_after[key] != info_before[key]}
        if changed:  # a description or options alone are not in Airtable's field payloads (name and type only)
            current = {key: info_after[key] for key in changed}
            previous = {key: info_before[key] for key in changed}
            field_change = ChangedField(current, previous)
            _publish(state, base, actor, [TableChanges(table.id, changed_fields={field_id: field_change})])
        return copy.deepcopy(field_schema)


def delete_field(state: StoreState, base_id: str, table_ref: str, field_id: str, actor: Actor = UI_ACTOR) -> None:
    """Destroy a field and its cells; the primary field cannot be destroyed (as on Airtable)."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        if field_id not in table.fields_by_id:
            raise ApiError(404, "NOT_FOUND", f"Field {field_id} not found")
        if field_id == table.schema["primaryFieldId"]:
            raise unprocessable("CANNOT_DELETE_PRIMARY_FIELD", "The primary field of a table cannot be deleted")
        was_stored = is_stored(table.fields_by_id[field_id])
        table.schema["fields"] = [f for f in table.schema["fields"] if f["id"] != field_id]
        table.reindex()
        if was_stored:
            table.rewrite_cells(field_id, lambda value: None)
        _publish(state, base, actor, [TableChanges(table.id, destroyed_fields=[field_id])])


def create_table(state: StoreState, base_id: str, spec: Mapping[str, Any], actor: Actor = UI_ACTOR) -> dict[str, Any]:
    """Create a table ``{"name", "description"?, "fields": [...]}``; the first field is its primary field."""
    base = state.base(base_id)
    with base.lock:
        name = _table_name(base, spec.get("name"))
        fields = spec.get("fields")
        if not isinstance(fields, list) or not fields:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "A table needs at least one field")
        taken: set[str] = set()
        created_fields = []
        for field_spec in fields:
            created = _new_field(field_spec, taken)
            taken.add(created["name"])
            created_fields.append(created)
        schema: dict[str, Any] = {
            "id": new_id("tbl"),
            "name": name,
            "primaryFieldId": created_fields[0]["id"],
            "fields": created_fields,
            "views": [{"id": new_id("viw"), "name": "Grid view", "type": "grid"}],
        }
        if isinstance(spec.get("description"), str):
            schema["description"] = spec["description"]
        table = Table(schema)
        base.tables[table.id] = table
        metadata = {"name": name, "description": schema.get("description")}
        created_table = CreatedTable(table.id, metadata, {f["id"]: field_info(f) for f in created_fields})
        _publish(state, base, actor, [], created_tables=[created_table])
        return copy.deepcopy(schema)


def update_table(
    state: StoreState, base_id: str, table_ref: str, changes: Mapping[str, Any], actor: Actor = UI_ACTOR
) -> dict[str, Any]:
    """Rename a table and/or change its description; returns its schema."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        before = {"name": table.name, "description": table.schema.get("description")}
        if "name" in changes and changes["name"] != table.name:
            table.schema["name"] = _table_name(base, changes["name"])
        if "description" in changes:
            table.schema["description"] = changes["description"]
        after = {"name": table.name, "description": table.schema.get("description")}
        if after != before:
            metadata = ChangedMetadata(current=after, previous=before)
            _publish(state, base, actor, [TableChanges(table.id, changed_metadata=metadata)])
        return copy.deepcopy(table.schema)


def delete_table(state: StoreState, base_id: str, table_ref: str, actor: Actor = UI_ACTOR) -> None:
    """Destroy a table and its records (admin routes only: Airtable's Web API has no such endpoint)."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        if len(base.tables) == 1:
            raise unprocessable("CANNOT_DELETE_LAST_TABLE", "A base keeps at least one table")
        del base.tables[table.id]
        _publish(state, base, actor, [], destroyed_tables=[table.id])


def _new_field(field_schema: Any, taken: set[str]) -> dict[str, Any]:
    if not isinstance(field_schema, Mapping):
        raise unprocessable("INVALID_REQUEST_UNKNOWN", "A field is an object")
    if unknown := sorted(set(field_schema) - FIELD_KEYS - {"id"}):
        raise unprocessable("INVALID_REQUEST_UNKNOWN", f"A field accepts only {sorted(FIELD_KEYS)}, not {unknown}")
    name = field_schema.get("name")
    if not isinstance(name, str) or not name.strip() or not isinstance(field_schema.get("type"), str):
        raise unprocessable("INVALID_REQUEST_UNKNOWN", "A field needs a non-empty name and a type")
    if name in taken:
        raise unprocessable("DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field name "{name}" is already used')
    return {"id": field_schema.get("id") or new_id("fld"), **copy.deepcopy(dict(field_schema))}


def _table_name(base: Base, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise unprocessable("INVALID_REQUEST_UNKNOWN", "A table needs a non-empty name")
    if any(table.name == name for table in base.tables.values()):
        raise unprocessable("DUPLICATE_OR_EMPTY_TABLE_NAME", f'Table name "{name}" is already used')
    return name


def _convert_cells(state: StoreState, base: Base, table: Table, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Re-type a field's stored cells: converted as ``typecast`` would, cleared where that fails."""
    if not is_stored(before):
        return
    if not is_stored(after):
        table.rewrite_cells(after["id"], lambda value: None)
        return
    writer = CellWriter(state.collaborators, base, table, typecast=True)

    def convert(value: Any) -> Any:
        try:
            converted = writer.normalize(after, value, None)
        except ApiError:
            return None
        return None if is_empty(converted) else converted

    table.rewrite_cells(after["id"], convert)
    writer.commit()


def _publish(state: StoreState, base: Base, actor: Actor, tables: list[TableChanges], **schema: Any) -> None:
    state.publish(new_transaction(base, actor, state.clock.time(), tables, **schema))
