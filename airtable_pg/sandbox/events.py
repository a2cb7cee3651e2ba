"""What the sandbox's record store tells its listeners (webhooks) after each committed change.

One ``Transaction`` per API call or admin call that changed records: it carries everything a
webhook payload needs, in the record-read cell format (V1, keyed by field id, empty cells
omitted). The webhooks module converts to Airtable's webhook cell format (V2) itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Cells = dict[str, Any]  # field id -> V1 cell value, empty cells omitted


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


@dataclass(frozen=True)
class TableChanges:
    table_id: str
    created: list[CreatedRecord] = field(default_factory=list)
    changed: list[ChangedRecord] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Transaction:
    base_id: str
    base_transaction_number: int  # per base, increments by one per transaction
    timestamp: str  # "2024-01-02T03:04:05.678Z"
    source: str  # "publicApi" for API calls, "client" for admin/demo edits, "system" for recalcs
    user: dict[str, Any] | None  # {"id": "usr…", "email": …, "permissionLevel": "create"} or None
    tables: list[TableChanges]
