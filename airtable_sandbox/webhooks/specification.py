"""A hook's specification: validated like Airtable does at creation, then asked what the hook wants."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airtable_sandbox.events import SOURCES, Transaction
from airtable_sandbox.http import ApiError

DATA_TYPES = frozenset({"tableData", "tableFields", "tableMetadata"})
CHANGE_TYPES = frozenset({"add", "remove", "update"})


OPTIONS_KEYS = frozenset({"filters", "includes"})
FILTER_KEYS = frozenset(
    {
        "dataTypes",
        "recordChangeScope",
        "changeTypes",
        "fromSources",
        "sourceOptions",
        "watchDataInFieldIds",
        "watchSchemasOfFieldIds",
    }
)
INCLUDES_KEYS = frozenset(
    {"includeCellValuesInFieldIds", "includePreviousCellValues", "includePreviousFieldDefinitions"}
)


def invalid_request(message: str) -> ApiError:
    """Airtable's answer to a malformed webhooks request: 422 ``INVALID_REQUEST_UNKNOWN``."""
    return ApiError(422, "INVALID_REQUEST_UNKNOWN", f"Invalid request: {message}")


@dataclass(frozen=True)
class HookSpec:
    """The parts of ``specification.options`` that decide what a hook's payloads contain."""

    data_types: frozenset[str]
    record_change_scope: str | None
    change_types: frozenset[str]  # empty = all
    from_sources: frozenset[str]  # empty = all
    watched_field_ids: frozenset[str]  # empty = all
    include_cell_values: frozenset[str] | str | None  # field ids, "all", or None
    include_previous_values: bool
    watched_schema_field_ids: frozenset[str] = frozenset()  # empty = all
    include_previous_field_definitions: bool = False

    def wants_source(self, tx: Transaction) -> bool:
        return not self.from_sources or tx.source in self.from_sources

    def wants_data(self, data_type: str) -> bool:
        """``tableData`` (records), ``tableFields`` (field schemas) or ``tableMetadata`` (table name/description)."""
        return data_type in self.data_types

    def watches_schema_of(self, field_id: str) -> bool:
        return not self.watched_schema_field_ids or field_id in self.watched_schema_field_ids

    def depends_on(self, table_ids: set[str], field_ids: set[str]) -> bool:
        """Whether the hook still makes sense in a base with these tables and fields (else it is invalid).

        Airtable invalidates a hook whose scoped table or watched (data or schema) field is destroyed;
        ``includeCellValuesInFieldIds`` naming a destroyed field is silently ignored instead (API.md §6.1).
        """
        if self.record_change_scope is not None and self.record_change_scope not in table_ids:
            return False
        return (self.watched_field_ids | self.watched_schema_field_ids) <= field_ids

    def wants_table(self, table_id: str) -> bool:
        return self.record_change_scope is None or self.record_change_scope == table_id

    def wants_change_type(self, change_type: str) -> bool:
        return not self.change_types or change_type in self.change_types

    def watches(self, changed_field_ids: Iterable[str]) -> bool:
        return not self.watched_field_ids or not self.watched_field_ids.isdisjoint(changed_field_ids)

    def includes_unchanged(self, field_id: str) -> bool:
        if self.include_cell_values is None:
            return False
        return self.include_cell_values == "all" or field_id in self.include_cell_values


def _string_list(value: Any, name: str, allowed: frozenset[str] | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_request(f'"{name}" must be an array of strings')
    if allowed is not None and (unknown := [item for item in value if item not in allowed]):
        raise invalid_request(f'"{name}" has unsupported values {unknown}; allowed: {sorted(allowed)}')
    return value


def checked_object(value: Any, name: str, allowed_keys: frozenset[str]) -> dict[str, Any]:
    """``value`` when it is a JSON object with no key beyond ``allowed_keys``; else a 422 naming it."""
    if not isinstance(value, dict):
        raise invalid_request(f'"{name}" must be an object')
    if unknown := sorted(set(value) - allowed_keys):
        raise invalid_request(f'"{name}" has unknown keys {unknown}')
    return value


def _parse_filters(filters: dict[str, Any]) -> dict[str, Any]:
    if "dataTypes" not in filters:
        raise invalid_request('"specification.options.filters.dataTypes" is required')
    data_types = _string_list(filters["dataTypes"], "dataTypes", DATA_TYPES)
    if not data_types:
        raise invalid_request('"specification.options.filters.dataTypes" must not be empty')
    scope = filters.get("recordChangeScope")
    if scope is not None and not isinstance(scope, str):
        raise invalid_request('"recordChangeScope" must be a table id')
    return {
        "data_types": frozenset(data_types),
        "record_change_scope": scope,
        "change_types": frozenset(_string_list(filters.get("changeTypes", []), "changeTypes", CHANGE_TYPES)),
        "from_sources": frozenset(_string_list(filters.get("fromSources", []), "fromSources", SOURCES)),
        "watched_field_ids": frozenset(_string_list(filters.get("watchDataInFieldIds", []), "watchDataInFieldIds")),
        "watched_schema_field_ids": frozenset(
            _string_list(filters.get("watchSchemasOfFieldIds", []), "watchSchemasOfFieldIds")
        ),
    }


def _parse_includes(includes: dict[str, Any]) -> dict[str, Any]:
    cell_values = includes.get("includeCellValuesInFieldIds")
    if cell_values is not None and cell_values != "all":
        cell_values = frozenset(_string_list(cell_values, "includeCellValuesInFieldIds"))
    for flag in ("includePreviousCellValues", "includePreviousFieldDefinitions"):
        if not isinstance(includes.get(flag, False), bool):
            raise invalid_request(f'"{flag}" must be a boolean')
    return {
        "include_cell_values": cell_values,
        "include_previous_values": includes.get("includePreviousCellValues", False),
        "include_previous_field_definitions": includes.get("includePreviousFieldDefinitions", False),
    }


def parse_specification(specification: Any) -> HookSpec:
    """Validate a create request's ``specification`` like Airtable does (422 on anything malformed)."""
    spec = checked_object(specification, "specification", frozenset({"options"}))
    options = checked_object(spec.get("options"), "specification.options", OPTIONS_KEYS)
    filters = checked_object(options.get("filters"), "specification.options.filters", FILTER_KEYS)
    includes = checked_object(options.get("includes", {}), "specification.options.includes", INCLUDES_KEYS)
    return HookSpec(**_parse_filters(filters), **_parse_includes(includes))
