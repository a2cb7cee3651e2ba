"""What the webhooks read from the record store, and how a read of something destroyed meanwhile answers.

The webhooks never import the store (the store publishes to them, so that would be a circle): they take any object
with these methods. A base, table or record can be destroyed between a transaction and the hook that reads it,
so each read answers ``None`` for what is gone instead of the API's error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from airtable_sandbox.http import ApiError

if TYPE_CHECKING:
    from airtable_sandbox.attachments import AttachmentContent

_GONE = (ApiError, KeyError, LookupError)


class RecordStore(Protocol):
    attachments: AttachmentContent | None

    def base_tables(self, base_id: str) -> list[dict[str, Any]]: ...

    def table_schema(self, base_id: str, table_id: str) -> dict[str, Any]: ...

    def read_record(self, base_id: str, table_id: str, record_id: str) -> dict[str, Any] | None: ...

    def primary_value(self, base_id: str, table_id: str, record_id: str) -> Any: ...


def base_tables(store: RecordStore, base_id: str) -> list[dict[str, Any]] | None:
    """Every table's schema, or ``None`` when the store has no such base."""
    try:
        return store.base_tables(base_id)
    except _GONE:
        return None


def table_schema(store: RecordStore, base_id: str, table_id: str) -> dict[str, Any] | None:
    try:
        return store.table_schema(base_id, table_id)
    except _GONE:
        return None


def read_record(store: RecordStore, base_id: str, table_id: str, record_id: str) -> dict[str, Any] | None:
    try:
        return store.read_record(base_id, table_id, record_id)
    except _GONE:
        return None


def primary_value(store: RecordStore, base_id: str, table_id: str, record_id: str) -> Any:
    try:
        return store.primary_value(base_id, table_id, record_id)
    except _GONE:
        return None  # the linked record was destroyed in the same transaction
