"""The row that crosses from the Airtable side to the Postgres side: one record, converted, ready to write.

``airtable.cells`` makes these from records; ``postgres.mirror_writer`` writes them. Neither side imports
the other: both import this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class MirrorRow:
    airtable_id: str
    created_time: datetime | None
    fields: dict[str, Any]  # cells keyed by field id as Airtable returned them (unstorable ones escaped)
    columns: dict[str, Any]  # column name -> typed value
    links: dict[str, list[str]] = field(default_factory=dict)  # link field id -> linked record ids, in order
    modified_time: datetime | None = None  # when Airtable says the record last changed, if known
