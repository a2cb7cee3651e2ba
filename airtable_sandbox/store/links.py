"""Two-way links: writing one side of a link updates the inverse field of the linked records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airtable_sandbox.store.assigned import stamp_modification

if TYPE_CHECKING:
    from airtable_sandbox.store.change import Change
    from airtable_sandbox.store.tables import Base, Record, Table


def inverse_targets(base: Base, table: Table, field_id: str, old: Any, new: Any) -> list[tuple[Table, str]]:
    field_schema = table.fields_by_id[field_id]
    if field_schema["type"] != "multipleRecordLinks":
        return []
    inverse_id = (field_schema.get("options") or {}).get("inverseLinkFieldId")
    linked = base.linked_table(field_schema)
    if not inverse_id or linked is None:
        return []
    return [(linked, record_id) for record_id in set(old or []) ^ set(new or [])]


def sync_inverse(base: Base, change: Change, table: Table, record_id: str, field_id: str, old: Any, new: Any) -> None:
    field_schema = table.fields_by_id[field_id]
    if field_schema["type"] != "multipleRecordLinks":
        return
    inverse_id = (field_schema.get("options") or {}).get("inverseLinkFieldId")
    linked = base.linked_table(field_schema)
    if not inverse_id or linked is None or inverse_id not in linked.fields_by_id:
        return
    old_ids, new_ids = set(old or []), set(new or [])
    for target_id in old_ids ^ new_ids:
        target = linked.records.get(target_id)
        if target is not None:
            _set_membership(linked, target, inverse_id, record_id, target_id in new_ids, change)


def _set_membership(table: Table, record: Record, field_id: str, member_id: str, present: bool, change: Change) -> None:
    old = table.decode(record)
    ids = list(old.get(field_id) or [])
    if (member_id in ids) == present:
        return
    ids = [*ids, member_id] if present else [i for i in ids if i != member_id]
    new = dict(old)
    if ids:
        new[field_id] = ids
    else:
        new.pop(field_id, None)
    stamp_modification(table, new, {field_id}, change, is_new=False)
    record.modified = change.now
    table.put_cells(record, old, new)


def dependents(base: Base, table: Table, record_id: str) -> list[tuple[Table, str]]:
    """Records whose link fields point at ``record_id``: their lookups, rollups and counts read it.

    A two-way link answers from the record's inverse cell; a one-way link costs a scan of the linking table
    (only done when the store reports lookup changes in other records, an opt-in setting).
    """
    record = table.records.get(record_id)
    found: list[tuple[Table, str]] = []
    for other in base.tables.values():
        for field_schema in other.schema["fields"]:
            options = field_schema.get("options") or {}
            if field_schema["type"] != "multipleRecordLinks" or options.get("linkedTableId") != table.id:
                continue
            inverse_id = options.get("inverseLinkFieldId")
            if inverse_id in table.fields_by_id:
                ids = table.decode(record).get(inverse_id) or [] if record is not None else []
            else:
                link_id = field_schema["id"]
                ids = [r.id for r in other.records.values() if record_id in (other.decode(r).get(link_id) or [])]
            found.extend((other, linking_id) for linking_id in ids if linking_id in other.records)
    return found
