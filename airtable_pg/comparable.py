"""Typed column values in one JSON form that compares equal exactly when Airtable would hold the same cell.

The outbound sync stores what it pushed in this form, and the inbound side compares Airtable's values, Postgres's
and the pushed ones in it to tell our own echoes from real Airtable edits. Airtable omits empty cells, so
``None``, ``""``, ``[]`` and ``False`` are all "empty"; numbers compare by value (``1.50`` = ``1.5``); times are
UTC to the millisecond (Airtable's precision).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def comparable(value: Any) -> Any:
    """``value`` (a typed column value, or one already in this form) as plain, normalized JSON."""
    if value is None or value is False or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value)).normalize()
        return str(number.quantize(Decimal(1)) if number == number.to_integral_value() else number)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    return value


def to_json(value: Any) -> Any:
    """A typed value as JSON for a person to read (conflicts, dead letters): numbers stay numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return comparable(value)
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value
