"""Airtable's metadata API: which tables and fields a base has (``GET /v0/meta/bases/{baseId}/tables``).

``spec pull`` writes the spec from it; the sync checks the spec against it before reading records. The
request goes through whatever ``Api`` it is given, so a sync's check is paced by the shared rate limiter
(the URL names the base: it takes a slot from that base's bucket like any records request).
"""

from __future__ import annotations

from typing import Any

from pyairtable import Api

from airtable_pg.airtable.errors import airtable_errors


def fetch_tables(api: Api, base_id: str) -> list[dict[str, Any]]:
    """The base's tables in the metadata API's raw form (options included); errors as ``AirtableError``."""
    with airtable_errors():
        return api.get(api.build_url(f"meta/bases/{base_id}/tables"))["tables"]


def field_ids_by_table(tables: list[dict[str, Any]]) -> dict[str, frozenset[str]]:
    """Table id → the ids of its fields, from :func:`fetch_tables`' answer."""
    return {table["id"]: frozenset(field["id"] for field in table.get("fields") or ()) for table in tables}
