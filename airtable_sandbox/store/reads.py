"""Reading one record, a count or a schema, each under its base's lock, as the API routes and webhooks ask."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airtable_sandbox.http import ApiError
from airtable_sandbox.store.record_view import RecordView
from airtable_sandbox.store.tables import NOT_FOUND_MESSAGE

if TYPE_CHECKING:
    from airtable_sandbox.store.state import StoreState
    from airtable_sandbox.store.tables import Table


def base_tables(state: StoreState, base_id: str) -> list[dict[str, Any]]:
    """Every table's schema (deep copies, private keys included)."""
    base = state.base(base_id)
    with base.lock:
        return [copy.deepcopy(table.schema) for table in base.tables.values()]


def table_schema(state: StoreState, base_id: str, table_id: str) -> dict[str, Any]:
    base = state.base(base_id)
    with base.lock:
        return copy.deepcopy(base.table(table_id).schema)


def read_record(state: StoreState, base_id: str, table_id: str, record_id: str) -> dict[str, Any] | None:
    """The V1 record ``{"id","createdTime","fields"}`` keyed by field id, or ``None``."""
    return _read(state, base_id, table_id, record_id, lambda table, view: view.as_record())


def primary_value(state: StoreState, base_id: str, table_id: str, record_id: str) -> Any:
    return _read(state, base_id, table_id, record_id, lambda table, view: view.value(table.schema["primaryFieldId"]))


def get_record(state: StoreState, base_id: str, table_ref: str, record_id: str) -> tuple[str, dict[str, Any]]:
    """``(table id, record)`` for the API: looked up in the table, then base-wide as Airtable does; 403."""
    base = state.base(base_id)
    with base.lock:
        table = base.table(table_ref)
        if record_id not in table.records:
            table = next((t for t in base.tables.values() if record_id in t.records), table)
        record = table.records.get(record_id)
        if record is None:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
        return table.id, RecordView(state.collaborators, base, table, record, state.clock.now()).as_record()


def count_records(state: StoreState, base_id: str, table_ref: str) -> int:
    base = state.base(base_id)
    with base.lock:
        return len(base.table(table_ref).records)


def _read(
    state: StoreState, base_id: str, table_id: str, record_id: str, read: Callable[[Table, RecordView], Any]
) -> Any:
    """``read(table, view)`` of one record under its base's lock; ``None`` when any of the three is missing."""
    base = state.find_base(base_id)
    if base is None:
        return None
    with base.lock:
        table = base.tables.get(table_id)
        record = table.records.get(record_id) if table else None
        if table is None or record is None:
            return None
        return read(table, RecordView(state.collaborators, base, table, record, state.clock.now()))
