"""What can move a computed cell without its own record changing, from Airtable's field metadata.

A formula, rollup, lookup or count cell changes when (a) its own record's cells change, which moves the record's
``LAST_MODIFIED_TIME()`` so the poll and the webhooks see it; (b) a record of another table it reads through a link
changes; or (c) time passes, for a formula calling ``NOW()`` or ``TODAY()``. Only (b) and (c) need a refresh of the
table's computed cells. ``spec pull`` writes each computed field's answer into the spec as ``changes_with``: the ids
of the tables whose records' changes can move it, and ``time`` when time alone can. The refresh sensor then re-reads
a table only when one of those tables had a change applied since the last read, or on its interval when ``time``
is among them.

Unknown (a field Airtable marks invalid, a reference this metadata cannot follow, a type this module does not know)
is ``None``: such a field is refreshed on its interval, as every computed field was before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airtable_pg.spec import CHANGES_WITH_TIME as TIME
from airtable_pg.spec import RECOMPUTED_TYPES as RECOMPUTED

_VOLATILE_CALL = re.compile(r"\b(NOW|TODAY)\s*\(", re.IGNORECASE)
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')

Dependence = frozenset[str] | None  # table ids and/or TIME; None: unknown


def changes_with(tables: list[Mapping[str, Any]]) -> dict[str, Dependence]:
    """For every formula, rollup, lookup and count field of the base (by field id): what can move its cells."""
    fields: dict[str, tuple[str, Mapping[str, Any]]] = {
        raw["id"]: (table["id"], raw) for table in tables for raw in table.get("fields") or []
    }
    memo: dict[str, Dependence] = {}

    def of(field_id: str, visiting: frozenset[str]) -> Dependence:
        if field_id in memo:
            return memo[field_id]
        if field_id in visiting or field_id not in fields:
            return None  # a loop Airtable would not allow, or a field this metadata does not hold
        table_id, raw = fields[field_id]
        result = _dependence(raw, table_id, fields, lambda other: of(other, visiting | {field_id}))
        memo[field_id] = result
        return result

    return {field_id: of(field_id, frozenset()) for field_id, (_, raw) in fields.items() if raw["type"] in RECOMPUTED}


def _dependence(raw: Mapping[str, Any], table_id: str, fields: Mapping[str, Any], of: Any) -> Dependence:
    kind = raw["type"]
    if kind == "multipleRecordLinks":
        # A formula reading a link cell reads the linked records' primary values (their names), not just ids.
        linked_table = (raw.get("options") or {}).get("linkedTableId")
        return frozenset({linked_table}) if isinstance(linked_table, str) else None
    if kind not in RECOMPUTED:
        return frozenset()  # a cell of the record itself (typed, or computed from the record alone)
    options = raw.get("options") or {}
    if options.get("isValid") is False:
        return None
    if kind == "formula":
        formula = options.get("formula")
        if not isinstance(formula, str):
            return None
        found: set[str] = {TIME} if _VOLATILE_CALL.search(_STRING_LITERAL.sub('""', formula)) else set()
        return _union(found, [of(ref) for ref in options.get("referencedFieldIds") or []])
    link_id = options.get("recordLinkFieldId")
    link = fields.get(link_id or "")
    if link is None or link[0] != table_id:
        return None
    linked_table = (link[1].get("options") or {}).get("linkedTableId")
    if not isinstance(linked_table, str):
        return None
    if kind == "count":
        return frozenset({linked_table})
    target = options.get("fieldIdInLinkedTable")
    if not isinstance(target, str):
        return None
    # A rollup's referencedFieldIds name the linked table's fields its aggregation reads.
    referenced = [target, *(options.get("referencedFieldIds") or [])] if kind == "rollup" else [target]
    return _union({linked_table}, [of(ref) for ref in referenced])


def _union(found: set[str], parts: list[Dependence]) -> Dependence:
    if any(part is None for part in parts):
        return None
    for part in parts:
        found |= part  # type: ignore[operator]
    return frozenset(found)
