"""The record writes of the API and the admin routes: create, update, upsert, delete, and an uploaded attachment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airtable_sandbox.http import ApiError, unprocessable
from airtable_sandbox.store.cell_writer import CellWriter
from airtable_sandbox.store.cells import is_writable, new_id
from airtable_sandbox.store.change import Change, RecordWrite
from airtable_sandbox.store.record_view import RecordView
from airtable_sandbox.store.tables import NOT_FOUND_MESSAGE, Record, merge_key
from airtable_sandbox.store.transactions import commit_change
from airtable_sandbox.store.users import UI_ACTOR

if TYPE_CHECKING:
    from airtable_sandbox.store.state import StoreState
    from airtable_sandbox.store.tables import Base, Table
    from airtable_sandbox.store.users import Actor


@dataclass
class UpsertResult:
    records: list[dict[str, Any]]
    created_ids: list[str]
    updated_ids: list[str]


@dataclass
class AddedAttachment:
    record: dict[str, Any]  # the V1 record after the write, keyed by field id
    field_id: str  # the attachment field the upload named (by id or by name)


def create_records(
    state: StoreState,
    base_id: str,
    table_ref: str,
    records: Sequence[Mapping[str, Any]],
    *,
    typecast: bool = False,
    actor: Actor = UI_ACTOR,
) -> list[dict[str, Any]]:
    """Create records from ``{name or id: value}`` dicts; returns the V1 records in input order."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        writer = CellWriter(state.collaborators, base, table, typecast)
        change = Change(actor, _change_time(state))
        for fields in records:
            record = Record(_unused_record_id(table), change.now, change.now, None)
            change.writes.append(RecordWrite(table, record, writer.cells(fields, {}), is_new=True))
        writer.commit()
        commit_change(state, base, change)
        return _written_records(state, base, table, change)


def update_records(
    state: StoreState,
    base_id: str,
    table_ref: str,
    updates: Sequence[Mapping[str, Any]],
    *,
    replace: bool = False,
    typecast: bool = False,
    actor: Actor = UI_ACTOR,
    missing_status: int = 422,
) -> list[dict[str, Any]]:
    """Update records from ``{"id", "fields"}`` dicts (``replace`` clears unnamed cells, like PUT)."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        writer = CellWriter(state.collaborators, base, table, typecast)
        change = Change(actor, _change_time(state))
        for update in updates:
            record = _existing(table, update.get("id"), missing_status)
            cells = writer.cells(update.get("fields"), table.decode(record))
            change.writes.append(RecordWrite(table, record, cells, replace=replace))
        writer.commit()
        commit_change(state, base, change)
        return _written_records(state, base, table, change)


def upsert_records(
    state: StoreState,
    base_id: str,
    table_ref: str,
    records: Sequence[Mapping[str, Any]],
    merge_on: Sequence[str],
    *,
    replace: bool = False,
    typecast: bool = False,
    actor: Actor = UI_ACTOR,
) -> UpsertResult:
    """Update records matched by ``id`` or by the values of ``merge_on`` fields; create the unmatched."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        key_fields = _merge_fields(table, merge_on)
        writer = CellWriter(state.collaborators, base, table, typecast)
        change = Change(actor, _change_time(state))
        created: list[str] = []
        updated: list[str] = []
        new_by_key: dict[str, RecordWrite] = {}  # records this request creates, so a repeated key updates them
        for item in records:
            write = _upsert_write(table, writer, key_fields, item, new_by_key, change.now, replace)
            if write.is_new and write.record.id not in created:
                created.append(write.record.id)
            elif not write.is_new:
                updated.append(write.record.id)
            change.writes.append(write)
        writer.commit()
        commit_change(state, base, change)
        result = _written_records(state, base, table, change)
        return UpsertResult(result, created, updated)


def add_attachment(
    state: StoreState,
    base_id: str,
    record_id: str,
    field_ref: str,
    attachment: Mapping[str, Any],
    *,
    actor: Actor = UI_ACTOR,
) -> AddedAttachment:
    """Append an uploaded attachment to a record's attachment cell (the upload endpoint names no table).

    Like the single-record routes, an unknown record answers 403; a field
    that is not an attachment field answers the 422 a write of an attachment object to it would.
    """
    base = state.base(base_id)
    with base.lock:
        table = next((t for t in base.tables.values() if record_id in t.records), None)
        if table is None:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
        field_schema = table.field(field_ref)
        if field_schema is None:
            raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{field_ref}"')
        if field_schema["type"] != "multipleAttachments":
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN", f'Field "{field_schema["name"]}" cannot accept the provided value'
            )
        record = table.records[record_id]
        current = table.decode(record).get(field_schema["id"]) or []
        change = Change(actor, _change_time(state))
        change.writes.append(RecordWrite(table, record, {field_schema["id"]: [*current, dict(attachment)]}))
        commit_change(state, base, change)
        return AddedAttachment(_written_records(state, base, table, change)[0], field_schema["id"])


def delete_records(
    state: StoreState,
    base_id: str,
    table_ref: str,
    record_ids: Sequence[str],
    *,
    actor: Actor = UI_ACTOR,
    missing_status: int = 404,
) -> list[str]:
    """Delete records (and their ids from the inverse links pointing at them)."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        change = Change(actor, _change_time(state))
        for record_id in dict.fromkeys(record_ids):
            record = table.records.get(record_id)
            if record is None:
                if missing_status == 403:
                    raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
                raise ApiError(404, "NOT_FOUND", f'Could not find a record with ID "{record_id}".')
            change.deletes.append((table, record))
        commit_change(state, base, change)
        return list(record_ids)


def _change_time(state: StoreState) -> float:
    return round(state.clock.time(), 3)


def _written_records(state: StoreState, base: Base, table: Table, change: Change) -> list[dict[str, Any]]:
    """The V1 records as the write left them, in request order."""
    return [
        RecordView(state.collaborators, base, table, write.record, state.clock.now()).as_record()
        for write in change.writes
    ]


def _unused_record_id(table: Table) -> str:
    while True:
        record_id = new_id("rec")
        if record_id not in table.records:
            return record_id


def _existing(table: Table, record_id: Any, missing_status: int) -> Record:
    record = table.records.get(record_id) if isinstance(record_id, str) else None
    if record is None:
        if missing_status == 403:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
        raise unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")
    return record


def _merge_fields(table: Table, merge_on: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(merge_on, list | tuple) or not 1 <= len(merge_on) <= 3:
        raise unprocessable("INVALID_REQUEST_UNKNOWN", "fieldsToMergeOn must name 1 to 3 fields")
    key_fields = []
    for ref in merge_on:
        field_schema = table.field(ref) if isinstance(ref, str) else None
        if field_schema is None:
            raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')
        if not is_writable(field_schema):
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN",
                f'Field "{field_schema["name"]}" is computed and cannot be used in fieldsToMergeOn',
            )
        key_fields.append(field_schema["id"])
    return tuple(key_fields)


def _upsert_write(
    table: Table,
    writer: CellWriter,
    key_fields: tuple[str, ...],
    item: Mapping[str, Any],
    new_by_key: dict[str, RecordWrite],
    now: float,
    replace: bool,
) -> RecordWrite:
    if item.get("id") is not None:
        record = _existing(table, item["id"], 422)
        return RecordWrite(table, record, writer.cells(item.get("fields"), table.decode(record)), replace=replace)
    cells = writer.cells(item.get("fields"), {})
    key = merge_key(cells, key_fields)
    if key in new_by_key:
        new_by_key[key].cells.update(cells)
        return new_by_key[key]
    matches = list(table.merge_index(key_fields).get(key, {}))
    if len(matches) > 1:
        raise unprocessable(
            "INVALID_VALUE_FOR_COLUMN",
            "Cannot update more than one record with the same values in fieldsToMergeOn "
            f"({len(matches)} records match)",
        )
    if matches:
        record = table.records[matches[0]]
        return RecordWrite(table, record, writer.cells(item.get("fields"), table.decode(record)), replace=replace)
    write = RecordWrite(table, Record(_unused_record_id(table), now, now, None), cells, is_new=True)
    new_by_key[key] = write
    return write
