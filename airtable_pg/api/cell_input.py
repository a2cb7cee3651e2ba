"""Cells an app writes through the API, checked and converted as Airtable does, before anything is written.

A write to a Postgres-authoritative table is applied to the mirror by the API itself, so the refusals Airtable
would give must come from here, with Airtable's error bodies: a field the table lacks (``UNKNOWN_FIELD_NAME``), a
computed field, a value of the wrong type (``INVALID_VALUE_FOR_COLUMN``), a link to a record that does not exist
(``ROW_DOES_NOT_EXIST``). ``typecast`` converts as Airtable does (text to numbers, dates, checkboxes; a comma list
to a multiple select or links). Each accepted cell comes out in the record-read form the mirror stores in
``fields`` (what a read serves until Airtable's echo replaces it).

What the mirror cannot know is left to Airtable: a select option the field lacks (the spec keeps no option list)
and collaborators (no user directory). The outbox's push then meets Airtable's refusal, which the API relays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from airtable_pg.api.errors import ApiError, unknown_field, unprocessable
from airtable_pg.api.tables import ServedTable
from airtable_pg.spec import FieldSpec

TEXT_TYPES = frozenset({"singleLineText", "multilineText", "richText", "email", "url", "phoneNumber"})
NUMBER_TYPES = frozenset({"number", "currency", "percent", "duration"})
MAX_RATING = 10  # Airtable's largest rating scale; the spec does not keep a field's own maximum
_TRUE_TEXT = frozenset({"true", "1", "yes", "y", "checked", "on"})
_LENIENT_DATE_FORMATS = ("%m/%d/%Y", "%Y/%m/%d", "%m/%d/%Y %H:%M", "%d %B %Y", "%B %d, %Y")

# linked table id, record ids → those of them that are live records of that table
LinkCheck = Callable[[str, list[str]], set[str]]


def computed(f: FieldSpec) -> ApiError:
    return unprocessable(
        "INVALID_VALUE_FOR_COLUMN", f'Field "{f.name}" cannot accept a value because the field is computed'
    )


class CellInput:
    """Checks and converts the ``fields`` of the records of one request."""

    def __init__(self, served: ServedTable, *, typecast: bool, links: LinkCheck) -> None:
        self.served = served
        self.typecast = typecast
        self._links = links

    def cells(self, fields: Any) -> dict[str, Any]:
        """``{name or id: value}`` → ``{field id: read-form cell, or None to clear it}``; Airtable's 422 on bad
        input."""
        if not isinstance(fields, dict):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed.")
        result: dict[str, Any] = {}
        for ref, value in fields.items():
            f = self.served.field(ref)
            if f is None:
                raise unknown_field(ref)
            if f.is_computed:
                raise computed(f)
            cell = None if value is None else self._normalize(f, value)
            result[f.id] = None if _is_empty(cell) else cell
        return result

    def writable(self) -> Iterable[FieldSpec]:
        """The fields a PUT clears when it does not name them."""
        return (f for f in self.served.table.fields.values() if not f.is_computed)

    # -- per type --------------------------------------------------------------------------------------

    def _normalize(self, f: FieldSpec, value: Any) -> Any:
        if f.type in TEXT_TYPES:
            return self._text(f, value)
        if f.type in NUMBER_TYPES:
            return self._number(f, value)
        handler = {
            "checkbox": self._checkbox,
            "rating": self._rating,
            "date": self._date,
            "dateTime": self._date_time,
            "singleSelect": self._single_select,
            "multipleSelects": self._multiple_selects,
            "multipleRecordLinks": self._record_links,
            "singleCollaborator": self._collaborator,
            "multipleCollaborators": self._collaborators,
            "barcode": self._barcode,
            "multipleAttachments": self._attachments,
        }.get(f.type)
        return value if handler is None else handler(f, value)  # a type Airtable added since: as given

    def _reject(self, f: FieldSpec) -> ApiError:
        return unprocessable("INVALID_VALUE_FOR_COLUMN", f'Field "{f.name}" cannot accept the provided value')

    def _text(self, f: FieldSpec, value: Any) -> str:
        if isinstance(value, str):
            return value
        if self.typecast and not isinstance(value, dict):
            if isinstance(value, list):
                return ", ".join(_plain_text(v) for v in value)
            return _plain_text(value)
        raise self._reject(f)

    def _number(self, f: FieldSpec, value: Any) -> float | int | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if self.typecast and isinstance(value, str):
            text = value.strip().replace(",", "")
            if not text:
                return None
            try:
                return _tidy(float(text.rstrip("%")) / (100 if text.endswith("%") else 1))
            except ValueError:
                pass
        raise self._reject(f)

    def _checkbox(self, f: FieldSpec, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value or None  # an unchecked box is an empty cell
        if self.typecast and isinstance(value, str | int | float):
            return (str(value).strip().lower() in _TRUE_TEXT) or None
        raise self._reject(f)

    def _rating(self, f: FieldSpec, value: Any) -> int | None:
        number = self._number(f, value)
        if number is None or number == 0:
            return None
        if float(number).is_integer() and 1 <= number <= MAX_RATING:
            return int(number)
        raise self._reject(f)

    def _date(self, f: FieldSpec, value: Any) -> str:
        return self._moment(f, value).strftime("%Y-%m-%d")

    def _date_time(self, f: FieldSpec, value: Any) -> str:
        moment = self._moment(f, value)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _moment(self, f: FieldSpec, value: Any) -> datetime:
        moment = parse_moment(value, lenient=self.typecast) if isinstance(value, str) else None
        if moment is None:
            raise unprocessable("INVALID_VALUE_FOR_COLUMN", f'Cannot parse date value "{value}" for field {f.name}')
        return moment

    def _choice(self, f: FieldSpec, value: Any) -> str:
        if isinstance(value, str):
            return value
        if self.typecast and isinstance(value, int | float) and not isinstance(value, bool):
            return _plain_text(value)
        raise self._reject(f)

    def _single_select(self, f: FieldSpec, value: Any) -> str | None:
        return self._choice(f, value) if value != "" else None

    def _multiple_selects(self, f: FieldSpec, value: Any) -> list[str]:
        if isinstance(value, str) and self.typecast:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise self._reject(f)
        return list(dict.fromkeys(self._choice(f, item) for item in value))

    def _record_links(self, f: FieldSpec, value: Any) -> list[str]:
        if isinstance(value, str) and self.typecast:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise self._reject(f)
        ids = [item.get("id") if isinstance(item, dict) else item for item in value]
        if not all(isinstance(record_id, str) for record_id in ids):
            raise self._reject(f)
        ids = list(dict.fromkeys(ids))
        found = self._links(f.linked_table or "", ids) if ids else set()
        for record_id in ids:
            if record_id not in found:
                raise unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")
        return ids

    def _collaborator(self, f: FieldSpec, value: Any) -> dict[str, Any]:
        if isinstance(value, dict) and (isinstance(value.get("id"), str) or isinstance(value.get("email"), str)):
            return {k: value[k] for k in ("id", "email", "name") if isinstance(value.get(k), str)}
        raise self._reject(f)

    def _collaborators(self, f: FieldSpec, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise self._reject(f)
        return [self._collaborator(f, item) for item in value]

    def _barcode(self, f: FieldSpec, value: Any) -> dict[str, Any]:
        if isinstance(value, str) and self.typecast:
            value = {"text": value}
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise self._reject(f)
        return {key: value[key] for key in ("text", "type") if value.get(key) is not None}

    def _attachments(self, f: FieldSpec, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self._reject(f)
        kept = []
        for item in value:
            if isinstance(item.get("id"), str):
                kept.append({"id": item["id"]})  # Airtable's echo brings its whole description back
            elif isinstance(item.get("url"), str):
                kept.append({k: item[k] for k in ("url", "filename") if isinstance(item.get(k), str)})
            else:
                raise self._reject(f)
        return kept


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def _tidy(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def _plain_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("filename") or value.get("text") or value.get("id") or value)
    if value is True:
        return "checked"
    return str(_tidy(value) if isinstance(value, float) else value)


def parse_moment(text: str, *, lenient: bool = False) -> datetime | None:
    """ISO 8601 date or date-time → aware UTC datetime (naive means UTC); ``lenient`` (typecast) tries a few more."""
    candidate = text.strip()
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        moment = None
        for fmt in _LENIENT_DATE_FORMATS if lenient else ():
            try:
                moment = datetime.strptime(candidate, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
