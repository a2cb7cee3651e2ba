"""Airtable's one timestamp format, shared by the formula engine and both servers that answer like Airtable."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_millis(moment: datetime | float) -> str:
    """Airtable's timestamp format: ``2024-01-02T03:04:05.678Z`` (UTC, milliseconds)."""
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    # isoformat is C code; the API writes one of these per record it serves
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" → "Z"
