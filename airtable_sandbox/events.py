"""What the sandbox's record store tells its listeners (webhooks) after each committed change.

One ``Transaction`` per API call or admin call that changed records or the schema: it carries
everything a webhook payload needs, in the record-read cell format (V1, keyed by field id, empty
cells omitted). The webhooks package converts to Airtable's webhook cell format (V2) itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Cells = dict[str, Any]  # field id -> V1 cell value, empty cells omitted

# Airtable's change sources (API.md §6.1); only ``client`` and ``publicApi`` name a user in payloads.
SOURCES = frozenset(
    {
        "client",
        "publicApi",
        "formSubmission",
        "formPageSubmission",
        "automation",
        "system",
        "sync",
        "anonymousUser",
        "unknown",
    }
)
SOURCES_WITH_USER = frozenset({"client", "publicApi"})


@dataclass(frozen=True)
class CreatedRecord:
    record_id: str
    created_time: str  # "2024-01-02T03:04:05.000Z"
    cells: Cells


@dataclass(frozen=True)
class ChangedRecord:
    record_id: str
    current: Cells  # only the cells that changed, new values (a cleared cell is present as None)
    previous: Cells  # the same keys, old values (None where the cell was empty)
    unchanged: Cells = field(default_factory=dict)  # every other cell's current value
    # The linked records as they were before the write, per link or lookup field: linked record id → its primary
    # value (links) or its looked-up V1 value (lookups). Payloads need them for ``previous`` V2 cells, which name
    # each linked record; rebuilt after the write they would show the new names and values.
    previous_links: dict[str, dict[str, Any]] = field(default_factory=dict)


FieldInfo = dict[str, Any]  # {"name", "type"}, as webhook payloads describe a field


@dataclass(frozen=True)
class ChangedField:
    current: FieldInfo  # only the keys that changed (name and/or type)
    previous: FieldInfo


@dataclass(frozen=True)
class ChangedMetadata:
    current: dict[str, Any]  # {"name", "description"}
    previous: dict[str, Any]


@dataclass(frozen=True)
class CreatedTable:
    table_id: str
    metadata: dict[str, Any]  # {"name", "description"}
    fields: dict[str, FieldInfo]  # field id → {"name", "type"}


@dataclass(frozen=True)
class TableChanges:
    table_id: str
    created: list[CreatedRecord] = field(default_factory=list)
    changed: list[ChangedRecord] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    created_fields: dict[str, FieldInfo] = field(default_factory=dict)
    changed_fields: dict[str, ChangedField] = field(default_factory=dict)
    destroyed_fields: list[str] = field(default_factory=list)
    changed_metadata: ChangedMetadata | None = None


@dataclass(frozen=True)
class Transaction:
    base_id: str
    base_transaction_number: int  # per base, increasing with gaps (Airtable's counts more than one base's API sees)
    timestamp: str  # "2024-01-02T03:04:05.678Z"
    source: str  # "publicApi" for API calls, "client" for admin/demo edits, or another of Airtable's sources
    user: dict[str, Any] | None  # {"id": "usr…", "email": …, "permissionLevel": "create"} or None
    tables: list[TableChanges]
    source_metadata: dict[str, Any] | None = None  # for sources without a user, e.g. {"automationId": "aut…"}
    created_tables: list[CreatedTable] = field(default_factory=list)
    destroyed_tables: list[str] = field(default_factory=list)
