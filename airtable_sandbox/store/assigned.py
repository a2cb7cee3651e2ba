"""Values Airtable assigns, never accepts: autoNumber, createdBy, lastModifiedBy, field-limited lastModifiedTime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airtable_sandbox.store.cells import is_stored, referenced_field_ids

if TYPE_CHECKING:
    from airtable_sandbox.store.cells import Cells
    from airtable_sandbox.store.change import Change
    from airtable_sandbox.store.tables import Table


def assign_on_create(table: Table, cells: Cells, change: Change) -> None:
    for field_schema in table.schema["fields"]:
        if field_schema["type"] == "autoNumber":
            cells[field_schema["id"]] = table.next_autonumber
        elif field_schema["type"] == "createdBy":
            cells[field_schema["id"]] = change.actor.user["id"]
    if any(f["type"] == "autoNumber" for f in table.schema["fields"]):
        table.next_autonumber += 1


def stamp_modification(table: Table, cells: Cells, changed: set[str], change: Change, *, is_new: bool) -> None:
    """lastModifiedBy / field-limited lastModifiedTime follow changes of the fields they watch."""
    for field_schema in table.schema["fields"]:
        if field_schema["type"] not in ("lastModifiedBy", "lastModifiedTime") or not is_stored(field_schema):
            continue
        watched = referenced_field_ids(field_schema)
        if is_new:
            # A new record counts as modified by its creator, unless the watched fields are all empty.
            touched = not watched or any(cells.get(fid) is not None for fid in watched)
        else:
            touched = bool(changed & set(watched)) if watched else bool(changed)
        if not touched:
            continue
        if field_schema["type"] == "lastModifiedBy":
            cells[field_schema["id"]] = change.actor.user["id"]
        else:
            cells[field_schema["id"]] = change.now
