"""One store call's change, before it is applied: the records it writes and deletes, and what they held before.

Data only: writes and deletes fill it in, ``transactions.commit_change`` applies it, and the rules that apply it
(assigned values, two-way links) read its actor and time. It sits below all of them so none imports another to
name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airtable_sandbox.store.cells import Cells
    from airtable_sandbox.store.tables import Record, Table
    from airtable_sandbox.store.users import Actor


@dataclass
class RecordWrite:
    table: Table
    record: Record
    cells: Cells  # field id → new value, None clears
    replace: bool = False
    is_new: bool = False


@dataclass
class Change:
    """What one store call does, applied and reported as one transaction."""

    actor: Actor
    now: float
    writes: list[RecordWrite] = field(default_factory=list)
    deletes: list[tuple[Table, Record]] = field(default_factory=list)
    touched: dict[tuple[str, str], Cells] = field(default_factory=dict)  # (table id, record id) → cells before
    # (table id, record id) → link/lookup field → linked record → its primary or looked-up value, before
    touched_links: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
