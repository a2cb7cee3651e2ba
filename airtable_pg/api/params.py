"""List-records parameters as Airtable clients send them: a query string (GET) or a JSON body (POST listRecords).

The wire forms are pyairtable's and airtable.js's: ``fields[]`` repeated, ``sort[0][field]`` /
``sort[0][direction]`` (keys arrive sorted as text, so the index is read as a number), ``returnFieldsByFieldId=1``,
``recordMetadata[]``; on POST the same names in JSON, with ``timeZone``/``userLocale`` possibly left in the query.
Parameters the mirror cannot honour are refused here, before any row is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airtable_pg.api.errors import invalid_request, not_served, unprocessable

MAX_PAGE_SIZE = 100
MAX_FORMULA_CHARS = 100_000  # pyairtable posts formulas over 16,000 characters; none sensible is larger
_SORT_KEY = re.compile(r"^sort\[(\d{1,4})\]\[(field|direction)\]$")
_TRUE_TEXT = frozenset({"1", "true", "True"})


@dataclass(frozen=True)
class ListOptions:
    page_size: int = MAX_PAGE_SIZE
    max_records: int | None = None
    offset: str | None = None
    sort: tuple[tuple[str, str], ...] = ()
    formula: str | None = None
    fields: tuple[str, ...] | None = None
    by_field_id: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> ListOptions:
        def first(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        parts: dict[int, dict[str, str]] = {}
        for key, values in query.items():
            match = _SORT_KEY.match(key)
            if match:
                parts.setdefault(int(match.group(1)), {})[match.group(2)] = values[0]
        fields = query.get("fields[]", query.get("fields"))
        return _build(
            page_size=first("pageSize"),
            max_records=first("maxRecords"),
            offset=first("offset"),
            view=first("view"),
            sort=[parts[index] for index in sorted(parts)],
            formula=first("filterByFormula"),
            fields=fields,
            cell_format=first("cellFormat"),
            by_field_id=(first("returnFieldsByFieldId") or "") in _TRUE_TEXT,
            metadata=query.get("recordMetadata[]", query.get("recordMetadata")),
        )

    @classmethod
    def from_body(cls, body: Any) -> ListOptions:
        if not isinstance(body, dict):
            raise invalid_request()
        by_field_id = body.get("returnFieldsByFieldId", False)
        if not isinstance(by_field_id, bool):
            raise invalid_request()
        return _build(
            page_size=body.get("pageSize"),
            max_records=body.get("maxRecords"),
            offset=_optional_text(body.get("offset")),
            view=body.get("view"),
            sort=body.get("sort") or [],
            formula=_optional_text(body.get("filterByFormula")),
            fields=body.get("fields"),
            cell_format=_optional_text(body.get("cellFormat")),
            by_field_id=by_field_id,
            metadata=body.get("recordMetadata"),
        )


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_request()
    return value


def _build(
    *,
    page_size: Any,
    max_records: Any,
    offset: str | None,
    view: Any,
    sort: Any,
    formula: str | None,
    fields: Any,
    cell_format: str | None,
    by_field_id: bool,
    metadata: Any,
) -> ListOptions:
    if view not in (None, ""):
        raise not_served("a view (view filters and orders are not in Airtable's metadata API)")
    if cell_format not in (None, "json"):
        if cell_format == "string":
            raise not_served('cellFormat "string" (cells formatted in a time zone and locale)')
        raise unprocessable("INVALID_REQUEST_UNKNOWN", f'Invalid cellFormat "{cell_format}"')
    if metadata:
        raise not_served("recordMetadata (comments are not mirrored)")
    if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
        raise invalid_request()
    if not isinstance(sort, list):
        raise invalid_request()
    if formula is not None and len(formula) > MAX_FORMULA_CHARS:
        raise unprocessable(
            "INVALID_FILTER_BY_FORMULA",
            f"The formula for filtering records is invalid: longer than {MAX_FORMULA_CHARS} characters",
        )
    return ListOptions(
        page_size=_page_size(page_size),
        max_records=_max_records(max_records),
        offset=offset or None,
        sort=tuple(_sort_entry(entry) for entry in sort),
        formula=formula or None,
        fields=tuple(fields) if fields is not None else None,
        by_field_id=by_field_id,
    )


def _page_size(value: Any) -> int:
    size = MAX_PAGE_SIZE if value is None else _integer(value)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise unprocessable(
            "INVALID_PAGE_SIZE_ARGUMENT", f"The pageSize parameter must be between 1 and {MAX_PAGE_SIZE}"
        )
    return size


def _max_records(value: Any) -> int | None:
    if value is None:
        return None
    count = _integer(value)
    if count < 1:
        raise invalid_request()
    return count


def _integer(value: Any) -> int:
    """An integer as a query string ("10") or JSON (10) gives it; 0 for anything else (true, 2.5, "ten")."""
    if isinstance(value, bool | float):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _sort_entry(entry: Any) -> tuple[str, str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
        raise unprocessable("INVALID_SORT_PARAMS", "Each sort object must have a field")
    direction = entry.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise unprocessable("INVALID_SORT_PARAMS", f'Invalid sort direction "{direction}"')
    return entry["field"], direction
