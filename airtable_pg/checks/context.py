"""What every check needs: the spec, the database, and Airtable through the shared rate limiter."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from psycopg import sql

from airtable_pg.airtable.api_pool import ApiPool
from airtable_pg.airtable.client import AirtableConfig, RequestStats
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec
from airtable_pg.spec_pull import fetch_tables


@dataclass
class CheckContext:
    spec: SyncSpec
    db: sa.Engine
    airtable: AirtableConfig
    cancel: threading.Event = field(default_factory=threading.Event)
    _schemas: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def api_pool(self) -> ApiPool:
        """Airtable clients whose every request takes a slot from the base's shared bucket, counted apart."""
        return ApiPool(self.airtable, self.airtable.rate_limiter(self.db), RequestStats(), self.cancel)

    def airtable_tables(self, base: BaseSpec, pool: ApiPool) -> list[dict[str, Any]]:
        """The base's tables from the metadata API (one request per base per run; later checks reuse it)."""
        if base.id not in self._schemas:
            self._schemas[base.id] = fetch_tables(pool.api(), base.id)
        return self._schemas[base.id]

    def airtable_fields(self, base: BaseSpec, table: TableSpec, pool: ApiPool) -> dict[str, dict[str, Any]] | None:
        """The table's fields now, by id; ``None`` when the table is gone from Airtable."""
        raw = next((t for t in self.airtable_tables(base, pool) if t["id"] == table.id), None)
        return None if raw is None else {f["id"]: f for f in raw["fields"]}


def mirror(base: BaseSpec, table: TableSpec) -> sql.Identifier:
    return sql.Identifier(base.schema, table.mirror)


def column(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def table_name(base: BaseSpec, table: TableSpec) -> str:
    return f"{base.key}.{table.key}"
