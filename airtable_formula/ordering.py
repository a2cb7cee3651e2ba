"""How Airtable orders cell values in a ``sort``: one key function, so the sandbox and the mirror's API agree."""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def sort_key(value: Any) -> tuple[int, Any]:
    """Empty first, then numbers, then text (case-insensitive), then anything else by its JSON."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value.casefold())
    if isinstance(value, list) and not any(isinstance(v, dict) for v in value):
        return (2, ", ".join(_scalar_text(v) for v in value).casefold())
    return (3, _ENCODER.encode(value))


def _scalar_text(value: Any) -> str:
    """A list item as Airtable joins it into text (``True`` reads "checked"; 2.0 reads "2")."""
    if value is True:
        return "checked"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
