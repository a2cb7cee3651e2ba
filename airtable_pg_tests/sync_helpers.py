"""Helpers for the sync engine's tests: an engine for a sandbox, sandbox "UI" edits, mirror ⇔ Airtable comparison."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import psycopg
import requests
from psycopg import sql
from psycopg.rows import dict_row
from pyairtable import Api

from airtable_pg.airtable.client import AirtableConfig
from airtable_pg.airtable.escaping import unescape_fields
from airtable_pg.postgres.database import libpq_url
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg.runtime import Runtime
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec, load_spec
from airtable_pg.sync.engine import SyncEngine


class SandboxEndpoint(Protocol):
    """Where a sandbox answers: one in this process (``Sandbox``) or in its own (``sandbox_process``)."""

    @property
    def url(self) -> str: ...

    token: str


def airtable_config(sandbox: SandboxEndpoint, **options: Any) -> AirtableConfig:
    """Client settings for ``sandbox``: quick retries, and 50 requests/s unless a test is about the rate limit.

    The sandbox's own limit is off by default; tests of behaviour need not wait at Airtable's pace.
    """
    options.setdefault("requests_per_second", 50.0)
    options.setdefault("backoff_seconds", 0.05)
    options.setdefault("backoff_max_seconds", 0.5)
    return AirtableConfig(api_key=sandbox.token, api_url=sandbox.url, **options)


# Where each test database's mirror revisions live (conftest's fixtures say so as they migrate one); the demo's
# unless told: the runtime refuses a database behind the revisions it is given.
MIGRATIONS_BY_URL: dict[str, Path] = {}


def sandbox_runtime(
    sandbox: SandboxEndpoint, database_url: str, spec: SyncSpec | None = None, *, airtable: dict | None = None
) -> Runtime:
    """The runtime (``airtable_pg.runtime``) of a test: ``sandbox`` as Airtable, a migrated test database."""
    migrations = MIGRATIONS_BY_URL.get(database_url, DEMO_VERSIONS)
    config = airtable_config(sandbox, **(airtable or {}))
    return Runtime.open(spec or load_spec(), database_url, config, migrations=migrations)


def make_sync_engine(
    sandbox: SandboxEndpoint,
    database_url: str,
    spec: SyncSpec | None = None,
    *,
    airtable: dict | None = None,
    **options: Any,
) -> SyncEngine:
    """A ``SyncEngine`` (the sync engine, not a SQLAlchemy engine) for ``sandbox`` and ``database_url``."""
    options.setdefault("workers", 8)
    return sandbox_runtime(sandbox, database_url, spec, airtable=airtable).sync_engine(**options)


def admin(sandbox: SandboxEndpoint, method: str, path: str, **kwargs: Any) -> Any:
    """Call the sandbox's admin API (edits as a person in the Airtable UI); returns the JSON answer."""
    response = requests.request(
        method,
        f"{sandbox.url}/_sandbox/{path}",
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
        **kwargs,
    )
    response.raise_for_status()
    return response.json()


def records_path(base_id: str, table_id: str) -> str:
    return f"bases/{quote(base_id, safe='')}/tables/{quote(table_id, safe='')}/records"


def mirror_rows(database_url: str, base: BaseSpec, table: TableSpec, *, live_only: bool = True) -> dict[str, dict]:
    """The mirror's rows by Airtable id, every column by name."""
    query = sql.SQL("select * from {}{}").format(
        sql.Identifier(base.schema, table.mirror), sql.SQL(" where deleted_at is null" if live_only else "")
    )
    with psycopg.connect(libpq_url(database_url), row_factory=dict_row) as conn:
        return {row["airtable_id"]: row for row in conn.execute(query)}


def join_rows(database_url: str, base: BaseSpec, table: TableSpec, field_id: str) -> dict[str, list[str]]:
    link = table.fields[field_id]
    query = sql.SQL("select airtable_id, linked_airtable_id from {} order by airtable_id, position").format(
        sql.Identifier(base.schema, table.join_table(link))
    )
    links: dict[str, list[str]] = {}
    with psycopg.connect(libpq_url(database_url)) as conn:
        for owner, target in conn.execute(query):
            links.setdefault(owner, []).append(target)
    return links


def expected_column(field: Any, cells: dict[str, Any]) -> Any:
    """What the typed column must hold, read off the records API's value by its own rules (not the converter's)."""
    value = cells.get(field.id)
    if value is None:
        return False if field.type == "checkbox" else None
    if isinstance(value, dict) and ("error" in value or "specialValue" in value) and field.pg_type != "jsonb":
        return None  # Airtable's error values never fill a typed column
    if "\\u0000" in json.dumps(value):  # NUL, by its JSON escape
        return None  # nor does a value Postgres cannot hold
    kind = field.pg_type
    if kind == "jsonb":
        return value
    if kind == "text":
        return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    if kind in {"bigint", "integer"}:
        return int(value) if isinstance(value, int | float) and float(value).is_integer() else None
    if kind == "numeric":
        return Decimal(str(value)) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "double precision":
        return float(value)
    if kind == "boolean":
        return bool(value) if isinstance(value, bool) or value in (0, 1) else None
    if kind == "date":
        return date.fromisoformat(value[:10]) if isinstance(value, str) else None
    if kind == "timestamptz":
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    if kind == "text[]":
        return list(value)
    raise AssertionError(f"no expectation for pg_type {kind}")


def assert_mirror_matches(database_url: str, api: Api, base: BaseSpec, table: TableSpec) -> int:
    """The live mirror equals a fresh read of the table: same ids, same cells, same typed columns and links.

    Returns the number of records compared.
    """
    records = {r["id"]: r for r in api.table(base.id, table.id).all(use_field_ids=True)}
    rows = mirror_rows(database_url, base, table)
    assert set(rows) == set(records), f"{table.key}: ids differ: {set(rows) ^ set(records)}"
    for record_id, record in records.items():
        row = rows[record_id]
        assert unescape_fields(row["fields"]) == record["fields"], f"{table.key}.{record_id}: fields jsonb differs"
        assert (
            row["airtable_created_time"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
            == (record["createdTime"])
        )
        for field in table.fields.values():
            expected = expected_column(field, record["fields"])
            assert row[field.column] == expected, f"{table.key}.{record_id}.{field.column}: {row[field.column]!r}"
    for link in table.link_fields:
        joined = join_rows(database_url, base, table, link.id)
        for record_id, record in records.items():
            assert joined.get(record_id, []) == (record["fields"].get(link.id) or []), f"{table.key}.{link.column}"
    return len(records)
