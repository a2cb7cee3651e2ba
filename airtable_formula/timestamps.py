"""Airtable's one timestamp format, shared by the formula engine and both servers that answer like Airtable."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_millis(moment: datetime | float) -> str:
    """Airtable's timestamp format: ``2024-01-02T03:04:05.678Z`` (UTC, milliseconds)."""
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
