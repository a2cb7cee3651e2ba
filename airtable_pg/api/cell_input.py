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
from typing import Any

from airtable_formula import written_cells as written
from airtable_pg.api.errors import ApiError, unknown_field, unprocessable
from airtable_pg.api.tables import ServedTable
from airtable_pg.spec import FieldSpec

MAX_RATING = 10  # Airtable's largest rating scale; the spec does not keep a field's own maximum

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

    # -- per type (the rules Airtable applies, shared with the sandbox: airtable_formula.written_cells) ----------

    def _normalize(self, f: FieldSpec, value: Any) -> Any:
        try:
            if f.type in written.TEXT_TYPES:
                return written.text(value, self.typecast)
            if f.type in written.NUMBER_TYPES:
                return written.number(value, self.typecast)
            if f.type == "rating":
                return written.rating(value, self.typecast, MAX_RATING)
            if f.type == "checkbox":
                return written.checkbox(value, self.typecast) or None  # an unchecked box is an empty cell
            if f.type in _PLAIN:
                return _PLAIN[f.type](value, self.typecast)
            if f.type == "singleSelect":
                return written.choice(value, self.typecast) if value != "" else None
            if f.type == "multipleSelects":
                names = [written.choice(item, self.typecast) for item in written.listed(value, self.typecast)]
                return list(dict.fromkeys(names))
            if f.type == "multipleRecordLinks":
                return self._record_links(f, written.record_ids(value, self.typecast))
            if f.type == "singleCollaborator":
                return _collaborator(value)
            if f.type == "multipleCollaborators":
                if not isinstance(value, list):
                    raise written.Unaccepted
                return [_collaborator(item) for item in value]
            if f.type == "multipleAttachments":
                return _attachments(value)
        except written.UnparsedDate:
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN", f'Cannot parse date value "{value}" for field {f.name}'
            ) from None
        except written.Unaccepted:
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN", f'Field "{f.name}" cannot accept the provided value'
            ) from None
        return value  # a type Airtable added since: as given

    def _record_links(self, f: FieldSpec, ids: list[str]) -> list[str]:
        found = self._links(f.linked_table or "", ids) if ids else set()
        for record_id in ids:
            if record_id not in found:
                raise unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")
        return ids


_PLAIN: dict[str, Callable[[Any, bool], Any]] = {
    "date": written.date,
    "dateTime": written.date_time,
    "barcode": written.barcode,
}


def _collaborator(value: Any) -> dict[str, Any]:
    """By id or e-mail, as Airtable takes one (Airtable's echo brings the rest); the mirror keeps no user list."""
    if isinstance(value, dict) and (isinstance(value.get("id"), str) or isinstance(value.get("email"), str)):
        return {k: value[k] for k in ("id", "email", "name") if isinstance(value.get(k), str)}
    raise written.Unaccepted


def _attachments(value: Any) -> list[dict[str, Any]]:
    """Kept ones by id, new ones by URL (Airtable's echo brings their whole description): only Airtable's forms. The
    pusher's own forms for apps writing Postgres (``{"file": …}`` under the upload directory, ``{"archived": …}``)
    are never taken from a client of the API: a token to the API is not a licence to read the server's files."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise written.Unaccepted
    kept = []
    for item in value:
        if isinstance(item.get("id"), str):
            kept.append({"id": item["id"]})
        elif isinstance(item.get("url"), str):
            kept.append({k: item[k] for k in ("url", "filename") if isinstance(item.get(k), str)})
        else:
            raise written.Unaccepted
    return kept


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False
