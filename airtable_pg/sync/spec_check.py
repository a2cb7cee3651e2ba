"""Before a table's sync writes rows: does Airtable still have the spec's table and every one of its fields?

A field id Airtable does not know is not an error to Airtable — a record read simply has no such cell — so
without this check a field deleted in Airtable (or a typo in the spec) would NULL its column on every row,
silently. The base's schema comes from the metadata API, one request per base per engine (an engine serves
one CLI command or one Dagster step): a sync of ten tables of one base spends one request, not ten.
"""

from __future__ import annotations

import threading

from airtable_pg.airtable.api_pool import ApiPool
from airtable_pg.airtable.meta import field_ids_by_table
from airtable_pg.spec import BaseSpec, TableSpec

REMEDY = (
    "run `airtable-pg spec pull` to refresh the spec from Airtable (then `airtable-pg db revision` if columns changed)"
)


class SpecMismatch(Exception):
    """The spec names a table or field the Airtable base does not have; retrying cannot help."""


class AirtableSpecCheck:
    """Checks spec tables against their base's schema, fetched once per base; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base_locks: dict[str, threading.Lock] = {}
        self._fields: dict[str, dict[str, frozenset[str]]] = {}  # base id -> table id -> field ids

    def verify(self, base: BaseSpec, table: TableSpec, apis: ApiPool) -> None:
        """Raise :class:`SpecMismatch` naming the table and what Airtable lacks; ``AirtableError`` if it cannot tell."""
        tables = self._tables_of(base.id, apis)
        name = f"{base.key}.{table.key}"
        known = tables.get(table.id)
        if known is None:
            raise SpecMismatch(f"table {name}: Airtable base {base.id} has no table {table.id}: {REMEDY}")
        unknown = [field_id for field_id in table.fields if field_id not in known]
        if unknown:
            raise SpecMismatch(
                f"table {name} ({table.id}): Airtable has no field {', '.join(unknown)} "
                f"(deleted or never there; its column would be NULL on every row): {REMEDY}"
            )

    def _tables_of(self, base_id: str, apis: ApiPool) -> dict[str, frozenset[str]]:
        with self._lock:
            base_lock = self._base_locks.setdefault(base_id, threading.Lock())
        with base_lock:  # the base's other tables wait for this one request instead of sending their own
            tables = self._fields.get(base_id)
            if tables is None:  # a failed request is not remembered: the next table asks again
                tables = self._fields[base_id] = field_ids_by_table(apis.base_tables(base_id))
        return tables
