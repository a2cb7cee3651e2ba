"""Applying one store call's change and reporting it as one transaction to the store's listeners."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.events import ChangedRecord, CreatedRecord, TableChanges, Transaction
from airtable_sandbox.store.assigned import assign_on_create, stamp_modification
from airtable_sandbox.store.cells import is_writable
from airtable_sandbox.store.links import dependents, inverse_targets, sync_inverse
from airtable_sandbox.store.record_view import RecordView

if TYPE_CHECKING:
    from airtable_sandbox.store.cells import Cells
    from airtable_sandbox.store.change import Change, RecordWrite
    from airtable_sandbox.store.state import StoreState
    from airtable_sandbox.store.tables import Base, Record, Table
    from airtable_sandbox.store.users import Actor


def commit_change(state: StoreState, base: Base, change: Change) -> None:
    """Snapshot what will change, apply, then emit one transaction (if anything changed)."""
    _snapshot_before(state, base, change)
    for write in change.writes:
        _apply_write(base, change, write)
    for table, record in change.deletes:
        _apply_delete(base, change, table, record)
    transaction = _transaction(state, base, change)
    if transaction is not None:
        state.publish(transaction)


def _snapshot_before(state: StoreState, base: Base, change: Change) -> None:
    """Full V1 cells, before any mutation, of every existing record this change may touch."""
    now = state.clock.now()
    keys: list[tuple[Table, str]] = []
    for write in change.writes:
        if not write.is_new:
            keys.append((write.table, write.record.id))
        current = {} if write.is_new else write.table.decode(write.record)
        for field_id in write.cells.keys() | (current.keys() if write.replace else set()):
            old, new = current.get(field_id), write.cells.get(field_id)
            keys.extend(inverse_targets(base, write.table, field_id, old, new))
    for table, record in change.deletes:
        keys.append((table, record.id))
        cells = table.decode(record)
        for field_id, value in cells.items():
            keys.extend(inverse_targets(base, table, field_id, value, None))
    if state.report_lookup_changes_in_other_records:
        keys.extend(dependent for table, record_id in list(keys) for dependent in dependents(base, table, record_id))
    for table, record_id in keys:
        key = (table.id, record_id)
        if key not in change.touched and record_id in table.records:
            view = RecordView(state.collaborators, base, table, table.records[record_id], now)
            change.touched[key] = view.cells()
            change.touched_links[key] = view.linked_values()


def _apply_write(base: Base, change: Change, write: RecordWrite) -> None:
    table, record = write.table, write.record
    if write.is_new and record.id in table.records:
        return  # the same new record listed twice in one upsert
    old = {} if write.is_new else table.decode(record)
    new = {} if write.replace else dict(old)
    if write.replace:  # PUT clears every writable cell not named; assigned values (autoNumber…) stay
        new.update({fid: value for fid, value in old.items() if not is_writable(table.fields_by_id[fid])})
    for field_id, value in write.cells.items():
        if value is None:
            new.pop(field_id, None)
        else:
            new[field_id] = value
    changed = {fid for fid in old.keys() | new.keys() if old.get(fid) != new.get(fid)}
    if write.is_new:
        assign_on_create(table, new, change)
    elif not changed:
        return
    stamp_modification(table, new, changed, change, is_new=write.is_new)
    record.modified = change.now
    if write.is_new:
        table.add_record(record, new)
    else:
        table.put_cells(record, old, new)
    for field_id in changed:
        sync_inverse(base, change, table, record.id, field_id, old.get(field_id), new.get(field_id))


def _apply_delete(base: Base, change: Change, table: Table, record: Record) -> None:
    if record.id not in table.records:
        return
    cells = table.decode(record)
    table.remove_record(record, cells)
    for field_id, value in cells.items():
        sync_inverse(base, change, table, record.id, field_id, value, None)


def _transaction(state: StoreState, base: Base, change: Change) -> Transaction | None:
    now = state.clock.now()
    tables: dict[str, TableChanges] = {}

    def changes_of(table_id: str) -> TableChanges:
        return tables.setdefault(table_id, TableChanges(table_id))

    created_keys: set[tuple[str, str]] = set()
    for write in change.writes:
        key = (write.table.id, write.record.id)
        if write.is_new and write.record.id in write.table.records and key not in created_keys:
            created_keys.add(key)
            cells = RecordView(state.collaborators, base, write.table, write.record, now).cells()
            created = CreatedRecord(write.record.id, iso_millis(write.record.created), cells)
            changes_of(write.table.id).created.append(created)
    for table, record in change.deletes:
        changes_of(table.id).destroyed.append(record.id)
    for (table_id, record_id), before in change.touched.items():
        table = base.tables[table_id]
        record = table.records.get(record_id)
        if record is None or (table_id, record_id) in created_keys:
            continue
        after = RecordView(state.collaborators, base, table, record, now).cells()
        changed = _diff(record_id, before, after, change.touched_links.get((table_id, record_id), {}))
        if changed is not None:
            changes_of(table_id).changed.append(changed)
    if not tables:
        return None
    return new_transaction(base, change.actor, change.now, list(tables.values()))


def new_transaction(base: Base, actor: Actor, now: float, tables: list[TableChanges], **schema: Any) -> Transaction:
    """A transaction of ``base`` by ``actor``; ``schema`` takes ``created_tables`` and ``destroyed_tables``."""
    return Transaction(
        base_id=base.id,
        base_transaction_number=base.next_transaction_number(),
        timestamp=iso_millis(now),
        source=actor.source,
        user=actor.transaction_user(),
        tables=tables,
        source_metadata=actor.source_metadata,
        **schema,
    )


def _diff(record_id: str, before: Cells, after: Cells, links_before: dict[str, dict[str, Any]]) -> ChangedRecord | None:
    changed = [fid for fid in before.keys() | after.keys() if before.get(fid) != after.get(fid)]
    if not changed:
        return None
    return ChangedRecord(
        record_id=record_id,
        current={fid: after.get(fid) for fid in changed},
        previous={fid: before.get(fid) for fid in changed},
        unchanged={fid: value for fid, value in after.items() if fid not in changed},
        previous_links={fid: links for fid, links in links_before.items() if fid in changed},
    )
