"""Field types and the rules for their cells: which are computed, stored or writable; empty values; ids.

The ground floor of the store: plain functions of a field's schema or a cell's value, used both when a record is
read (computed cells, rollups) and when one is written (validation, typecast), so it imports nothing of the store.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping
from typing import Any

# Defined with the written-cell rules the mirror's API shares; the store uses them from here.
from airtable_formula.written_cells import NUMBER_TYPES as NUMBER_TYPES
from airtable_formula.written_cells import TEXT_TYPES as TEXT_TYPES

Cells = dict[str, Any]


ID_ALPHABET = string.ascii_letters + string.digits


# Field types whose values Airtable derives; writing them is an error.
COMPUTED_TYPES = frozenset(
    {
        "formula",
        "multipleLookupValues",
        "rollup",
        "count",
        "createdTime",
        "lastModifiedTime",
        "autoNumber",
        "createdBy",
        "lastModifiedBy",
        "button",
        "aiText",
        "externalSyncSource",
    }
)
# Derived once and kept: they live in the stored cells although nobody may write them.
ASSIGNED_TYPES = frozenset({"autoNumber", "createdBy", "lastModifiedBy", "aiText", "externalSyncSource"})
COLLABORATOR_TYPES = frozenset({"singleCollaborator", "multipleCollaborators"})


COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def new_id(prefix: str, rng: random.Random | None = None) -> str:
    """Airtable-shaped id: 3-letter prefix + 14 alphanumerics (17 characters)."""
    return prefix + "".join((rng or random).choices(ID_ALPHABET, k=14))


def is_empty(value: Any) -> bool:
    """Airtable never stores nor returns ``""``, ``[]``, ``False`` or ``None``."""
    return value is None or value is False or value == "" or value == []


def is_error_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("error" in value or "specialValue" in value)


def is_stored(field_schema: Mapping[str, Any]) -> bool:
    field_type = field_schema["type"]
    if field_type in ASSIGNED_TYPES:
        return True
    if field_type == "lastModifiedTime":
        return bool(referenced_field_ids(field_schema))
    return field_type not in COMPUTED_TYPES


def referenced_field_ids(field_schema: Mapping[str, Any]) -> list[str]:
    return list((field_schema.get("options") or {}).get("referencedFieldIds") or [])


def is_writable(field_schema: Mapping[str, Any]) -> bool:
    return field_schema["type"] not in COMPUTED_TYPES
