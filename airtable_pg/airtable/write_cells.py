"""Typed mirror-column values → the cells Airtable's write API takes (the reverse of ``airtable.cells``).

Only fields Airtable lets a client write are pushed (computed ones never are). Values take the shape Airtable
wants, decided here rather than discovered as a 422 later: dates as ``YYYY-MM-DD``, date-times in UTC
(``…Z``, millisecond precision), numbers as JSON numbers, selects by name, links as record ids,
collaborators by id (or e-mail), attachments by id (kept) or URL (new).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from airtable_pg.spec import FieldSpec, TableSpec

_TEXT = frozenset(
    {"singleLineText", "multilineText", "richText", "email", "url", "phoneNumber", "singleSelect", "barcode"}
)
_NUMBER = frozenset({"number", "currency", "percent", "duration", "rating"})


class UnwritableValue(ValueError):
    """A value that cannot take the shape its field needs (a permanent error for that change alone)."""


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise UnwritableValue(f"expected a number, got {value!r}")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _text(value: Any) -> Any:
    return value if isinstance(value, str) else str(value)


def _date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise UnwritableValue(f"expected a date, got {value!r}")


def _date_time(value: Any) -> Any:
    if not isinstance(value, datetime):
        raise UnwritableValue(f"expected a timestamp, got {value!r}")
    moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _names(value: Any) -> Any:
    if not isinstance(value, list):
        raise UnwritableValue(f"expected a list of names, got {value!r}")
    return [str(item) for item in value]


def _collaborator(value: Any) -> Any:
    if isinstance(value, dict) and (value.get("id") or value.get("email")):
        return {"id": value["id"]} if value.get("id") else {"email": value["email"]}
    raise UnwritableValue(f"expected a collaborator with an id or email, got {value!r}")


def _collaborators(value: Any) -> Any:
    return [_collaborator(item) for item in (value if isinstance(value, list) else [value])]


def _attachments(value: Any) -> Any:
    out = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and item.get("id"):
            out.append({"id": item["id"]})
        elif isinstance(item, dict) and item.get("url"):
            out.append({"url": item["url"], **({"filename": item["filename"]} if item.get("filename") else {})})
        else:
            raise UnwritableValue(f"expected an attachment with an id or url, got {item!r}")
    return out


def _writer(f: FieldSpec) -> Callable[[Any], Any] | None:
    if f.type in _TEXT:
        return _text
    if f.type in _NUMBER:
        return _number
    return {
        "checkbox": bool,
        "multipleSelects": _names,
        "date": _date,
        "dateTime": _date_time,
        "multipleRecordLinks": _names,
        "singleCollaborator": _collaborator,
        "multipleCollaborators": _collaborators,
        "multipleAttachments": _attachments,
    }.get(f.type)


def pushable_fields(table: TableSpec) -> list[FieldSpec]:
    """The table's fields an outbound push writes: writable in Airtable and of a shape we know."""
    return [f for f in table.writable_fields if _writer(f) is not None and f.name != table.idempotency_field]


def write_cells(fields: list[FieldSpec], columns: dict[str, Any]) -> dict[str, Any]:
    """Cells keyed by field id; an empty value clears the cell (``None``; a checkbox ``False``)."""
    cells: dict[str, Any] = {}
    for f in fields:
        value = columns.get(f.column)
        if f.type == "checkbox":
            cells[f.id] = bool(value)
        elif value is None or value == [] or value == "":
            cells[f.id] = None
        else:
            cells[f.id] = _writer(f)(value)  # type: ignore[misc]
    return cells
