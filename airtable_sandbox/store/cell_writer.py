"""Validating and normalizing written cells, Airtable's way, type by type."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airtable_formula import written_cells as written
from airtable_sandbox.http import ApiError, unprocessable
from airtable_sandbox.store.cells import NUMBER_TYPES, TEXT_TYPES, is_empty, is_writable, new_id

if TYPE_CHECKING:
    from airtable_sandbox.store.cells import Cells
    from airtable_sandbox.store.tables import Base, Table
    from airtable_sandbox.store.users import Collaborators


# Types whose written values need nothing but the value (``airtable_formula.written_cells``, shared with the API).
_PLAIN: dict[str, Callable[[Any, bool], Any]] = {
    "checkbox": written.checkbox,
    "date": written.date,
    "dateTime": written.date_time,
    "barcode": written.barcode,
}


class CellWriter:
    """Validates and normalizes cells written to one table in one request, Airtable's way.

    ``typecast`` converts strings and adds unknown select options; new options are collected and only
    added to the schema by :meth:`commit` once the whole request has validated.
    """

    def __init__(self, collaborators: Collaborators, base: Base, table: Table, typecast: bool) -> None:
        self._collaborators = collaborators
        self._base = base
        self.table = table
        self.typecast = typecast
        self.new_choices: dict[str, list[str]] = {}

    def cells(self, fields: Any, current: Cells) -> Cells:
        """``{name or id: value}`` → ``{field id: normalized value or None}``; raises 422 on bad input."""
        if not isinstance(fields, dict):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed.")
        result: Cells = {}
        for ref, value in fields.items():
            field_schema = self.table.field(ref)
            if field_schema is None:
                raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')
            if not is_writable(field_schema):
                raise unprocessable(
                    "INVALID_VALUE_FOR_COLUMN",
                    f'Field "{field_schema["name"]}" cannot accept a value because the field is computed',
                )
            normalized = self.normalize(field_schema, value, current.get(field_schema["id"]))
            result[field_schema["id"]] = None if is_empty(normalized) else normalized
        try:
            # Encoded now, while nothing has changed: a value the store cannot keep must fail the whole request.
            self.table.encode(result)
        except UnicodeEncodeError as exc:
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN", "Cell values must be valid Unicode text (no unpaired surrogates)"
            ) from exc
        return result

    def commit(self) -> None:
        for field_id, names in self.new_choices.items():
            choices = self.table.fields_by_id[field_id].setdefault("options", {}).setdefault("choices", [])
            for name in names:
                choices.append({"id": new_id("sel"), "name": name, "color": "grayLight2"})

    # -- per type --------------------------------------------------------------------------------------

    def normalize(self, field_schema: Mapping[str, Any], value: Any, current: Any) -> Any:
        if value is None:
            return None
        field_type = field_schema["type"]
        try:
            if field_type in TEXT_TYPES:
                return written.text(value, self.typecast)
            if field_type in NUMBER_TYPES:
                return written.number(value, self.typecast)
            if field_type == "rating":
                maximum = int((field_schema.get("options") or {}).get("max", 5))
                return written.rating(value, self.typecast, maximum)
            if field_type in _PLAIN:
                return _PLAIN[field_type](value, self.typecast)
            handler = {
                "singleSelect": self._single_select,
                "multipleSelects": self._multiple_selects,
                "multipleRecordLinks": self._links,
                "singleCollaborator": self._collaborator,
                "multipleCollaborators": self._collaborator_list,
            }.get(field_type)
            if field_type == "multipleAttachments":
                return self._attachments(field_schema, value, current)
            if handler is None:
                return value  # a type we do not know (Airtable adds types): keep the value as given
            return handler(field_schema, value)
        except written.UnparsedDate:
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN", f'Cannot parse date value "{value}" for field {field_schema["name"]}'
            ) from None
        except written.Unaccepted:
            raise self._reject(field_schema) from None

    def _reject(self, field_schema: Mapping[str, Any]) -> ApiError:
        return unprocessable(
            "INVALID_VALUE_FOR_COLUMN", f'Field "{field_schema["name"]}" cannot accept the provided value'
        )

    def _choice(self, field_schema: Mapping[str, Any], value: Any) -> str:
        value = written.choice(value, self.typecast)
        choices = (field_schema.get("options") or {}).get("choices") or []
        if any(choice["name"] == value for choice in choices):
            return value
        if self.typecast:
            pending = self.new_choices.setdefault(field_schema["id"], [])
            if value not in pending:
                pending.append(value)
            return value
        raise unprocessable(
            "INVALID_MULTIPLE_CHOICE_OPTIONS", f'Insufficient permissions to create new select option ""{value}""'
        )

    def _single_select(self, field_schema: Mapping[str, Any], value: Any) -> str | None:
        return self._choice(field_schema, value) if value != "" else None

    def _multiple_selects(self, field_schema: Mapping[str, Any], value: Any) -> list[str]:
        names = [self._choice(field_schema, item) for item in written.listed(value, self.typecast)]
        return list(dict.fromkeys(names))

    def _links(self, field_schema: Mapping[str, Any], value: Any) -> list[str]:
        ids = written.record_ids(value, self.typecast)
        linked = self._base.linked_table(field_schema)
        for record_id in ids:
            if linked is None or record_id not in linked.records:
                raise unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")
        return ids

    def _collaborator(self, field_schema: Mapping[str, Any], value: Any) -> str:
        user = self._collaborators.find(value)
        if user is None:
            raise self._reject(field_schema)
        return user["id"]

    def _collaborator_list(self, field_schema: Mapping[str, Any], value: Any) -> list[str]:
        if not isinstance(value, list):
            raise self._reject(field_schema)
        return list(dict.fromkeys(self._collaborator(field_schema, item) for item in value))

    def _attachments(self, field_schema: Mapping[str, Any], value: Any, current: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self._reject(field_schema)
        existing = {item["id"]: item for item in current or [] if isinstance(item, dict) and "id" in item}
        result = []
        for item in value:
            if item.get("id") in existing:
                result.append(existing[item["id"]])
            elif isinstance(item.get("url"), str):
                result.append(_new_attachment(item["url"], item.get("filename")))
            else:
                raise self._reject(field_schema)
        return result


def _new_attachment(url: str, filename: str | None) -> dict[str, Any]:
    name = filename or url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "file"
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {"id": new_id("att"), "url": url, "filename": name, "size": 0, "type": content_type}
