"""What one hook records for one transaction: payload bodies in Airtable's format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airtable_sandbox.events import SOURCES_WITH_USER, ChangedRecord, CreatedRecord, TableChanges, Transaction
from airtable_sandbox.webhooks.schema_changes import (
    created_tables,
    destroyed_parts,
    destroyed_tables,
    table_schema_parts,
)

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.cells import CellConverter
    from airtable_sandbox.webhooks.specification import HookSpec


MAX_RECORDS_PER_PAYLOAD = 100


class ConvertedTransaction:
    """A transaction's cells in V2, converted at most once however many hooks want them."""

    def __init__(self, tx: Transaction, converter: CellConverter):
        self.tx = tx
        self._converter = converter
        self._cache: dict[tuple[str, str, str], dict[str, Any]] = {}

    def created(self, table_id: str, record: CreatedRecord) -> dict[str, Any]:
        return self._memo(
            ("created", table_id, record.record_id), lambda: self._converter.cells(table_id, record.cells, record.cells)
        )

    def current(self, table_id: str, record: ChangedRecord) -> dict[str, Any]:
        state = {**record.unchanged, **record.current}
        return self._memo(
            ("current", table_id, record.record_id), lambda: self._converter.cells(table_id, record.current, state)
        )

    def previous(self, table_id: str, record: ChangedRecord) -> dict[str, Any]:
        state = {**record.unchanged, **record.previous}
        return self._memo(
            ("previous", table_id, record.record_id),
            lambda: self._converter.cells(table_id, record.previous, state, record.previous_links),
        )

    def unchanged(self, table_id: str, record: ChangedRecord) -> dict[str, Any]:
        state = {**record.unchanged, **record.current}
        return self._memo(
            ("unchanged", table_id, record.record_id), lambda: self._converter.cells(table_id, record.unchanged, state)
        )

    def _memo(self, key: tuple[str, str, str], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


# One record's entry in a payload: (table id, "createdRecordsById" | "changedRecordsById" | "destroyedRecordIds",
# record id, the entry's value — None for a destroyed record).
PayloadEntry = tuple[str, str, str, Any]


def build_payloads(spec: HookSpec, converted: ConvertedTransaction) -> list[dict[str, Any]]:
    """What one hook records for one transaction: nothing, one payload, or several for a big transaction.

    Schema changes ride in the first payload; records beyond ``MAX_RECORDS_PER_PAYLOAD`` go to further ones.
    """
    tx = converted.tx
    if not spec.wants_source(tx):
        return []
    scoped = [table for table in tx.tables if spec.wants_table(table.table_id)]
    schema_parts = {table.table_id: parts for table in scoped if (parts := table_schema_parts(spec, table))}
    top_level: dict[str, Any] = {}
    if created := created_tables(spec, tx):
        top_level["createdTablesById"] = created
    if destroyed := destroyed_tables(spec, tx):
        top_level["destroyedTableIds"] = destroyed
    entries: list[PayloadEntry] = []
    if spec.wants_data("tableData"):
        entries = [entry for table in scoped for entry in _table_entries(spec, table, converted)]
    chunks = list(_chunks(entries, MAX_RECORDS_PER_PAYLOAD))
    if not chunks and (schema_parts or top_level):
        chunks = [[]]
    payloads = []
    for index, chunk in enumerate(chunks):
        first = index == 0
        payloads.append(_payload(tx, chunk, schema_parts if first else {}, top_level if first else {}))
    return payloads


def error_payload(tx: Transaction, code: str) -> dict[str, Any]:
    """The payload that tells a hook it is broken for good (e.g. ``INVALID_HOOK``): the change that broke it."""
    return {**_envelope(tx), **destroyed_parts(tx), "error": True, "code": code}


def _table_entries(spec: HookSpec, table: TableChanges, converted: ConvertedTransaction) -> Iterator[PayloadEntry]:
    table_id = table.table_id
    if spec.wants_change_type("add"):
        for created in table.created:
            cells = converted.created(table_id, created)
            yield (
                table_id,
                "createdRecordsById",
                created.record_id,
                {"createdTime": created.created_time, "cellValuesByFieldId": cells},
            )
    if spec.wants_change_type("update"):
        for changed in table.changed:
            if spec.watches(changed.current):
                entry = _changed_entry(spec, table_id, changed, converted)
                yield table_id, "changedRecordsById", changed.record_id, entry
    if spec.wants_change_type("remove"):
        for record_id in table.destroyed:
            yield table_id, "destroyedRecordIds", record_id, None


def _changed_entry(
    spec: HookSpec, table_id: str, record: ChangedRecord, converted: ConvertedTransaction
) -> dict[str, Any]:
    entry: dict[str, Any] = {"current": {"cellValuesByFieldId": converted.current(table_id, record)}}
    if spec.include_previous_values:
        entry["previous"] = {"cellValuesByFieldId": converted.previous(table_id, record)}
    unchanged = {
        field_id: value
        for field_id, value in converted.unchanged(table_id, record).items()
        if spec.includes_unchanged(field_id)
    }
    if unchanged:
        entry["unchanged"] = {"cellValuesByFieldId": unchanged}
    return entry


def _chunks(entries: list[PayloadEntry], size: int) -> Iterator[list[PayloadEntry]]:
    for start in range(0, len(entries), size):
        yield entries[start : start + size]


def _payload(
    tx: Transaction, entries: list[PayloadEntry], schema_parts: dict[str, dict[str, Any]], top_level: dict[str, Any]
) -> dict[str, Any]:
    tables: dict[str, dict[str, Any]] = {table_id: dict(parts) for table_id, parts in schema_parts.items()}
    for table_id, kind, record_id, value in entries:
        table = tables.setdefault(table_id, {})
        if kind == "destroyedRecordIds":
            table.setdefault(kind, []).append(record_id)
        else:
            table.setdefault(kind, {})[record_id] = value
    payload = _envelope(tx)
    if tables:  # "Clients must not assume that at least one of the optional fields are present."
        payload["changedTablesById"] = tables
    payload.update(top_level)
    return payload


def _envelope(tx: Transaction) -> dict[str, Any]:
    return {
        "timestamp": tx.timestamp,
        "baseTransactionNumber": tx.base_transaction_number,
        "actionMetadata": action_metadata(tx),
        "payloadFormat": "v0",
    }


def action_metadata(tx: Transaction) -> dict[str, Any]:
    metadata: dict[str, Any] = {"source": tx.source}
    if tx.source in SOURCES_WITH_USER and tx.user is not None:
        metadata["sourceMetadata"] = {"user": dict(tx.user)}
    elif tx.source_metadata:  # formSubmission {viewId}, formPageSubmission {pageId}, automation {automationId}
        metadata["sourceMetadata"] = dict(tx.source_metadata)
    return metadata
