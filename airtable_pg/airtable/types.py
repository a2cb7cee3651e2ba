"""Airtable field types → Postgres column types (the mirror table's typed columns, beside its ``fields`` jsonb).

Typed columns are a convenience for the app; the ``fields`` jsonb keeps every cell as Airtable
returned it, so a mapping choice here can never lose data. A type this module does not know
lands in jsonb: Airtable adds field types, and a new one must sync, not crash.
"""

from __future__ import annotations

from typing import Any

ATTACHMENT_TYPE = "multipleAttachments"  # its cells are lists of attachment objects whose URLs expire

_TEXT = {
    "singleLineText",
    "multilineText",
    "richText",
    "email",
    "url",
    "phoneNumber",
    "singleSelect",
    "externalSyncSource",  # the name of the synced table's source, a string in record reads
}
_NUMERIC = {"number", "currency", "percent", "duration"}
_BIGINT = {"autoNumber", "count"}
_JSONB = {
    "multipleAttachments",
    "singleCollaborator",
    "multipleCollaborators",
    "createdBy",
    "lastModifiedBy",
    "barcode",
    "button",
    "aiText",
    "multipleLookupValues",  # a list of values of any type, errors included
}


def _scalar_pg_type(airtable_type: str | None, options: dict[str, Any] | None) -> str:
    if airtable_type in _TEXT:
        return "text"
    if airtable_type in _NUMERIC:
        return "numeric"
    if airtable_type in _BIGINT:
        return "bigint"
    if airtable_type == "rating":
        return "integer"
    if airtable_type == "checkbox":
        return "boolean"
    if airtable_type == "date":
        return "date"
    if airtable_type == "dateTime":
        return "timestamptz"
    if airtable_type in {"createdTime", "lastModifiedTime"}:
        result = (options or {}).get("result") or {}
        return "date" if result.get("type") == "date" else "timestamptz"
    if airtable_type in {"multipleSelects", "multipleRecordLinks"}:
        return "text[]"
    return "jsonb"


def pg_type_for(airtable_type: str, options: dict[str, Any] | None) -> str:
    """The column type for one field from its metadata (``type`` and ``options``)."""
    if airtable_type in {"formula", "rollup"}:
        result = (options or {}).get("result") or {}
        # A formula can return an error object instead of its result type; the typed column then
        # holds NULL and the error stays in ``fields``.
        return _scalar_pg_type(result.get("type"), result.get("options"))
    if airtable_type in _JSONB:
        return "jsonb"
    return _scalar_pg_type(airtable_type, options)


def result_type_of(airtable_type: str, options: dict[str, Any] | None) -> str | None:
    """For computed fields, the type of value they produce (``options.result.type``)."""
    if airtable_type in {"formula", "rollup", "multipleLookupValues", "createdTime", "lastModifiedTime"}:
        result = (options or {}).get("result") or {}
        return result.get("type")
    return None
