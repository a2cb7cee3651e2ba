"""Compare Airtable's answer with the mirror's for the same read: what may differ without being wrong, and what not.

Both answers are Airtable-shaped records (``{"id", "createdTime", "fields"}``), fields keyed by name or by id. Before
comparing, each cell is put in one canonical form, per field type (the spec's):

* empty is empty: an absent cell, ``null``, ``""``, ``[]``, ``{}`` and ``false`` are the same (Airtable omits empty
  cells, and a checkbox's false reads as absent);
* numbers by value, with a relative tolerance (``1.5`` = ``1.50``; a formula's ``0.30000000000000004`` = ``0.3``);
* attachments by ``(id, filename, size, type)``, never by URL (Airtable's URLs expire and differ per read);
* collaborators by id; linked records, multiple selects and multiple collaborators as sets (their order is not
  promised);
* records as a map by id, unless the request sorted them (then order is part of the answer);
* ignored, and counted as such: last-modified time and by, buttons, and computed fields that read the clock
  (``changes_with: [time]``): they differ between any two reads.

Whatever differs after that is a mismatch, unless the caller's re-check finds it was in flight (a change applied on
one side moments ago): see ``airtable_pg.routing.shadow``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airtable_pg.spec import CHANGES_WITH_TIME, FieldSpec, TableSpec

SET_TYPES = frozenset({"multipleRecordLinks", "multipleSelects", "multipleCollaborators"})
COLLABORATOR_TYPES = frozenset({"singleCollaborator", "multipleCollaborators", "createdBy", "lastModifiedBy"})
NEVER_COMPARED = frozenset({"lastModifiedTime", "lastModifiedBy", "button"})
RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FieldMismatch:
    record_id: str
    field_id: str | None  # None: the record itself (present on one side only, or out of order)
    airtable: Any
    postgres: Any


@dataclass
class Comparison:
    records: int = 0  # records compared (present on either side)
    mismatches: list[FieldMismatch] = field(default_factory=list)
    ignored_fields: set[str] = field(default_factory=set)  # field ids never compared (named in every report)

    @property
    def matched(self) -> bool:
        return not self.mismatches

    def record_ids(self) -> list[str]:
        return sorted({m.record_id for m in self.mismatches})


def ignored_field_ids(table: TableSpec) -> set[str]:
    return {
        f.id
        for f in table.fields.values()
        if f.type in NEVER_COMPARED or (f.changes_with is not None and CHANGES_WITH_TIME in f.changes_with)
    }


def compare_records(
    table: TableSpec,
    airtable: Sequence[Mapping[str, Any]],
    postgres: Sequence[Mapping[str, Any]],
    *,
    ordered: bool,
) -> Comparison:
    """Every difference between two answers to one read of ``table`` (``ordered``: the request gave a sort)."""
    by_key = fields_by_key(table)
    ignored = ignored_field_ids(table)
    result = Comparison(ignored_fields=ignored)
    left = {r["id"]: r for r in airtable}
    right = {r["id"]: r for r in postgres}
    result.records = len(left.keys() | right.keys())
    for record_id in sorted(left.keys() | right.keys()):
        if record_id not in left or record_id not in right:
            result.mismatches.append(
                FieldMismatch(record_id, None, record_id in left and "present", record_id in right and "present")
            )
            continue
        result.mismatches.extend(_cells(record_id, left[record_id], right[record_id], by_key, ignored))
    if ordered and not result.mismatches:
        order_left = [r["id"] for r in airtable]
        order_right = [r["id"] for r in postgres]
        if order_left != order_right:
            first = next(i for i, (a, b) in enumerate(zip(order_left, order_right, strict=False)) if a != b)
            result.mismatches.append(FieldMismatch(order_left[first], None, f"at {first}", order_right[first]))
    return result


def fields_by_key(table: TableSpec) -> dict[str, FieldSpec]:
    keys: dict[str, FieldSpec] = {}
    for spec in table.fields.values():
        keys[spec.id] = spec
        keys.setdefault(spec.name, spec)
    return keys


def _cells(
    record_id: str,
    left: Mapping[str, Any],
    right: Mapping[str, Any],
    by_key: Mapping[str, FieldSpec],
    ignored: set[str],
) -> list[FieldMismatch]:
    found = []
    cells_left, cells_right = left.get("fields") or {}, right.get("fields") or {}
    for key in sorted(cells_left.keys() | cells_right.keys()):
        spec = by_key.get(key)
        if spec is not None and spec.id in ignored:
            continue
        kind = spec.type if spec else None
        a, b = canonical(kind, cells_left.get(key)), canonical(kind, cells_right.get(key))
        if not same(a, b):
            found.append(FieldMismatch(record_id, spec.id if spec else key, cells_left.get(key), cells_right.get(key)))
    return found


def canonical(kind: str | None, value: Any) -> Any:
    """One cell in the form two equal answers share (see the module's rules)."""
    if value is None or value is False or value == "" or value == [] or value == {}:
        return None
    if kind == "multipleAttachments" and isinstance(value, list):
        return [tuple(item.get(k) for k in ("id", "filename", "size", "type")) for item in value]
    if kind in COLLABORATOR_TYPES:
        if isinstance(value, list):
            return sorted(str(item.get("id")) for item in value)
        if isinstance(value, Mapping):
            return value.get("id")
    if kind in SET_TYPES and isinstance(value, list):
        return sorted((canonical(None, item) for item in value), key=repr)
    if isinstance(value, list):
        return [canonical(None, item) for item in value]
    if isinstance(value, Mapping):
        return {k: canonical(None, v) for k, v in sorted(value.items())}
    return value


def same(a: Any, b: Any) -> bool:
    """Equal after canonical(): numbers within the tolerance, everything else exactly (a number where Airtable
    answers a string is a mismatch: a client would see it)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b
