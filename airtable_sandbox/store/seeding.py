"""Bulk-loading seeded records without transactions (the demo bases and big test tables)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airtable_sandbox.store.cells import COLLABORATOR_TYPES, is_empty, is_stored, referenced_field_ids
from airtable_sandbox.store.tables import Record
from airtable_sandbox.store.users import UI_USER

if TYPE_CHECKING:
    from airtable_sandbox.store.cells import Cells
    from airtable_sandbox.store.state import StoreState
    from airtable_sandbox.store.tables import Base, Table
    from airtable_sandbox.store.users import Collaborators


@dataclass(frozen=True)
class SeedRecord:
    """One record for ``Store.load_records``: stored cells only, forward side of two-way links only."""

    table_id: str
    record_id: str
    created_time: float  # epoch seconds
    last_modified_time: float
    cells: dict


def load_seeds(state: StoreState, base_id: str, table_id: str | None, seeds: Iterable[SeedRecord]) -> int:
    """Bulk-load seeded records without emitting transactions; fills inverse link sides.

    ``table_id`` restricts the seeds to one table (``None`` accepts seeds of every table of the base).
    Inverse sides whose target record is not loaded yet are kept and applied when it arrives.
    Returns the number of records loaded.
    """
    base = state.base(base_id)
    loaded = 0
    with base.lock:
        plans = {table.id: _SeedPlan(base, table, state.collaborators) for table in base.tables.values()}
        for seed in seeds:
            if table_id is not None and seed.table_id != table_id:
                raise ValueError(f"seed {seed.record_id} belongs to {seed.table_id}, not {table_id}")
            plan = plans.get(seed.table_id)
            if plan is None:
                raise ValueError(f"seed {seed.record_id}: unknown table {seed.table_id}")
            plan.load(seed)
            loaded += 1
        for table in base.tables.values():
            table.merge_indexes.clear()
        _apply_pending_inverse(base)
    return loaded


def _apply_pending_inverse(base: Base) -> None:
    for table_id, by_field in base.pending_inverse.items():
        table = base.tables[table_id]
        for field_id, by_record in by_field.items():
            for record_id in [r for r in by_record if r in table.records]:
                record = table.records[record_id]
                cells = table.decode(record)
                cells[field_id] = list(dict.fromkeys([*(cells.get(field_id) or []), *by_record.pop(record_id)]))
                record.cells = table.encode(cells)


class _SeedPlan:
    """Per-table precomputed work for fast bulk loading."""

    def __init__(self, base: Base, table: Table, collaborators: Collaborators) -> None:
        self.base = base
        self.table = table
        self.collaborators = collaborators
        fields = table.schema["fields"]
        self.autonumber_ids = [f["id"] for f in fields if f["type"] == "autoNumber"]
        self.user_ids = [f["id"] for f in fields if f["type"] in ("createdBy", "lastModifiedBy")]
        self.collaborator_ids = [f["id"] for f in fields if f["type"] in COLLABORATOR_TYPES]
        self.stamped_ids = [f for f in fields if f["type"] == "lastModifiedTime" and is_stored(f)]
        self.inverse = {
            f["id"]: (f["options"]["linkedTableId"], f["options"]["inverseLinkFieldId"])
            for f in fields
            if f["type"] == "multipleRecordLinks" and (f.get("options") or {}).get("inverseLinkFieldId")
        }

    def load(self, seed: SeedRecord) -> None:
        table = self.table
        cells: Cells = {}
        for ref, value in seed.cells.items():
            field_schema = table.fields_by_id.get(ref) or table.fields_by_name.get(ref)
            if field_schema is None:
                raise ValueError(f"seed {seed.record_id}: unknown field {ref!r} in table {table.name}")
            if not is_empty(value):
                cells[field_schema["id"]] = value
        for field_id in self.collaborator_ids:
            cells[field_id] = self._collaborator_ids(cells.get(field_id))
        for field_id in self.autonumber_ids:
            cells[field_id] = table.next_autonumber
        if self.autonumber_ids:
            table.next_autonumber += 1
        for field_id in self.user_ids:
            cells[field_id] = UI_USER["id"]  # seeded records were made by a person in the UI
        for field_schema in self.stamped_ids:
            if any(fid in cells for fid in referenced_field_ids(field_schema)):
                cells[field_schema["id"]] = seed.last_modified_time
        for field_id, (linked_table_id, inverse_id) in self.inverse.items():
            for target_id in cells.get(field_id) or []:
                pending = self.base.pending_inverse.setdefault(linked_table_id, {}).setdefault(inverse_id, {})
                pending.setdefault(target_id, []).append(seed.record_id)
        record = Record(seed.record_id, float(seed.created_time), float(seed.last_modified_time), None)
        table.records[record.id] = record
        table.order.append(record.id)
        record.cells = table.encode(cells)

    def _collaborator_ids(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            for user in value:
                self.collaborators.register(user)
            return [user["id"] for user in value]
        self.collaborators.register(value)
        return value["id"]
