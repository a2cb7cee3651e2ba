"""Cell values a client writes, checked and converted as Airtable does (``typecast`` included), type by type.

Shared by the sandbox's record writes and the mirror API's writes to Postgres-authoritative tables, so both accept,
refuse and typecast a written value the same way. It lives beside the formula engine because that is the one package
both import and that imports neither (the product must not depend on the emulator). Only what needs no table or
store is here: select options, link targets and collaborators are checked by each caller against what it knows.

Every function takes the value as the client sent it and whether ``typecast`` is on, and returns the record-read
form of the cell, or raises :class:`Unaccepted` (Airtable's ``INVALID_VALUE_FOR_COLUMN``: the field "cannot accept
the provided value") or :class:`UnparsedDate`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airtable_formula.timestamps import iso_millis

TEXT_TYPES = frozenset({"singleLineText", "multilineText", "richText", "email", "url", "phoneNumber"})
NUMBER_TYPES = frozenset({"number", "currency", "percent", "duration"})
_TRUE_TEXT = frozenset({"true", "1", "yes", "y", "checked", "on"})
_LENIENT_DATE_FORMATS = ("%m/%d/%Y", "%Y/%m/%d", "%m/%d/%Y %H:%M", "%d %B %Y", "%B %d, %Y")


class Unaccepted(ValueError):
    """The field cannot accept the value (Airtable: ``INVALID_VALUE_FOR_COLUMN``)."""


class UnparsedDate(Unaccepted):
    """A date or date-time that does not parse (Airtable: ``Cannot parse date value "…" for field …``)."""


def tidy_number(value: float) -> float | int:
    """``3.0`` → ``3``: Airtable shows a whole float as an integer (rollups, typecast numbers)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def plain_text(value: Any) -> str:
    """A cell value as one piece of text, as ARRAYJOIN rollups and typecast to text show it."""
    if isinstance(value, dict):
        return str(value.get("name") or value.get("filename") or value.get("text") or value.get("id") or value)
    if value is True:
        return "checked"
    return str(tidy_number(value) if isinstance(value, float) else value)


def text(value: Any, typecast: bool) -> str:
    if isinstance(value, str):
        return value
    if typecast and not isinstance(value, dict):
        if isinstance(value, list):
            return ", ".join(plain_text(v) for v in value)
        return plain_text(value)
    raise Unaccepted


def number(value: Any, typecast: bool) -> float | int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if typecast and isinstance(value, str):
        stripped = value.strip().replace(",", "")
        if not stripped:
            return None
        try:
            return tidy_number(float(stripped.rstrip("%")) / (100 if stripped.endswith("%") else 1))
        except ValueError:
            pass
    raise Unaccepted


def checkbox(value: Any, typecast: bool) -> bool:
    if isinstance(value, bool):
        return value
    if typecast and isinstance(value, str | int | float):
        return str(value).strip().lower() in _TRUE_TEXT
    raise Unaccepted


def rating(value: Any, typecast: bool, maximum: int) -> int | None:
    rated = number(value, typecast)
    if rated is None or rated == 0:
        return None
    if float(rated).is_integer() and 1 <= rated <= maximum:
        return int(rated)
    raise Unaccepted


def date(value: Any, typecast: bool) -> str:
    return moment(value, typecast).strftime("%Y-%m-%d")


def date_time(value: Any, typecast: bool) -> str:
    return iso_millis(moment(value, typecast))


def moment(value: Any, typecast: bool) -> datetime:
    parsed = parse_moment(value, lenient=typecast) if isinstance(value, str) else None
    if parsed is None:
        raise UnparsedDate
    return parsed


def choice(value: Any, typecast: bool) -> str:
    """A select option's name (whether the field has it is the caller's to check)."""
    if isinstance(value, str):
        return value
    if typecast and isinstance(value, int | float) and not isinstance(value, bool):
        return plain_text(value)
    raise Unaccepted


def listed(value: Any, typecast: bool) -> list[Any]:
    """A multiple select's or a link's list (``typecast``: ``"a, b"`` is two items)."""
    if isinstance(value, str) and typecast:
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise Unaccepted
    return value


def record_ids(value: Any, typecast: bool) -> list[str]:
    """A link cell's record ids, each once, in order (whether they exist is the caller's to check)."""
    ids = [item.get("id") if isinstance(item, dict) else item for item in listed(value, typecast)]
    if not all(isinstance(record_id, str) for record_id in ids):
        raise Unaccepted
    return list(dict.fromkeys(ids))


def barcode(value: Any, typecast: bool) -> dict[str, Any]:
    if isinstance(value, str) and typecast:
        value = {"text": value}
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise Unaccepted
    return {key: value[key] for key in ("text", "type") if value.get(key) is not None}


def parse_moment(text: str, *, lenient: bool = False) -> datetime | None:
    """ISO 8601 date or date-time → aware UTC datetime (naive means UTC); ``lenient`` tries a few more forms."""
    candidate = text.strip()
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        parsed = None
        for fmt in _LENIENT_DATE_FORMATS if lenient else ():
            try:
                parsed = datetime.strptime(candidate, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
