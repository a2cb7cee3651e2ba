"""The schema parts of a payload: fields and table metadata changed, tables created and destroyed (API.md §6.6).

What each hook sees follows its specification the way Airtable documents it: ``tableFields`` brings
``createdFieldsById``/``changedFieldsById``/``destroyedFieldIds``, ``tableMetadata`` brings ``changedMetadata``,
``recordChangeScope`` limits them to one table, ``changeTypes`` applies (add, update, remove) and
``watchSchemasOfFieldIds`` limits field changes to those fields. Which hooks see ``createdTablesById`` and
``destroyedTableIds`` is not documented: every hook without a ``recordChangeScope`` (sandbox choice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airtable_sandbox.events import CreatedTable, TableChanges, Transaction

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.specification import HookSpec


def table_schema_parts(spec: HookSpec, table: TableChanges) -> dict[str, Any]:
    """The ``changedTablesById[tbl]`` keys about the table's schema that this hook sees (maybe none)."""
    parts: dict[str, Any] = {}
    if spec.wants_data("tableFields"):
        if spec.wants_change_type("add") and table.created_fields and not spec.watched_schema_field_ids:
            parts["createdFieldsById"] = {fid: dict(info) for fid, info in table.created_fields.items()}
        changed = {fid: change for fid, change in table.changed_fields.items() if spec.watches_schema_of(fid)}
        if spec.wants_change_type("update") and changed:
            parts["changedFieldsById"] = {fid: _changed_field(spec, change) for fid, change in changed.items()}
        destroyed = [fid for fid in table.destroyed_fields if spec.watches_schema_of(fid)]
        if spec.wants_change_type("remove") and destroyed:
            parts["destroyedFieldIds"] = destroyed
    if spec.wants_data("tableMetadata") and spec.wants_change_type("update") and table.changed_metadata is not None:
        metadata = table.changed_metadata
        parts["changedMetadata"] = {"current": dict(metadata.current), "previous": dict(metadata.previous)}
    return parts


def _changed_field(spec: HookSpec, change: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"current": dict(change.current)}
    if spec.include_previous_field_definitions:
        entry["previous"] = dict(change.previous)
    return entry


def created_tables(spec: HookSpec, tx: Transaction) -> dict[str, Any]:
    if spec.record_change_scope is not None or not spec.wants_change_type("add"):
        return {}
    return {table.table_id: _created_table(table) for table in tx.created_tables}


def _created_table(table: CreatedTable) -> dict[str, Any]:
    # A new table has no records yet; its fields and metadata are reported whole (sandbox choice, see module doc).
    return {
        "metadata": dict(table.metadata),
        "fieldsById": {fid: dict(info) for fid, info in table.fields.items()},
        "recordsById": {},
    }


def destroyed_tables(spec: HookSpec, tx: Transaction) -> list[str]:
    if spec.record_change_scope is not None or not spec.wants_change_type("remove"):
        return []
    return list(tx.destroyed_tables)


def destroyed_parts(tx: Transaction) -> dict[str, Any]:
    """What an error payload carries: the destroyed tables and fields that invalidated the hook."""
    parts: dict[str, Any] = {}
    tables = {table.table_id: {"destroyedFieldIds": list(table.destroyed_fields)} for table in tx.tables}
    tables = {table_id: keys for table_id, keys in tables.items() if keys["destroyedFieldIds"]}
    if tables:
        parts["changedTablesById"] = tables
    if tx.destroyed_tables:
        parts["destroyedTableIds"] = list(tx.destroyed_tables)
    return parts
