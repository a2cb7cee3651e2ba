"""Helpers for the outbound sync's tests: a pusher for a sandbox, the app's own SQL writes, Airtable reads."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import TableSpec, load_spec
from airtable_pg.sync.outbound import OutboundConfig, OutboundPusher
from airtable_pg_tests.sync_helpers import sandbox_runtime
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
GOALS = COACHING.tables["personal_goals"]
BELIEFS = COACHING.tables["persoonlijke_overtuigingen"]
USERS = COACHING.tables["users"]


def make_pusher(sandbox: Sandbox, database_url: str, **options: Any) -> OutboundPusher:
    """A pusher with quick back-off (tests do not wait minutes for a retry)."""
    after_answer = options.pop("after_answer", None)
    options.setdefault("backoff_seconds", 0.05)
    options.setdefault("backoff_max_seconds", 0.2)
    runtime = sandbox_runtime(sandbox, database_url, SPEC, airtable={"max_attempts": 2})
    return replace(runtime, outbound=OutboundConfig(**options)).pusher(after_answer=after_answer)


def app_sql(database_url: str, text: str, params: Any = ()) -> list[tuple]:
    """What the app does: plain SQL on the mirror table, in its own transaction."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def insert_goal(database_url: str, **columns: Any) -> str:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    values = sql.SQL(", ").join(sql.Placeholder() * len(columns))
    query = sql.SQL("insert into airtable.personal_goals ({}) values ({}) returning id::text").format(names, values)
    return app_sql(database_url, query, list(columns.values()))[0][0]


def row(database_url: str, table: TableSpec, row_id: str) -> dict[str, Any] | None:
    with psycopg.connect(libpq_url(database_url), row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            sql.SQL("select * from {} where id = %s").format(sql.Identifier("airtable", table.mirror)), (row_id,)
        ).fetchone()


def airtable_records_with_key(sandbox: Sandbox, table: TableSpec, key: str) -> list[dict[str, Any]]:
    """Airtable's records of ``table`` whose idempotency key is ``key`` (a row's Postgres id)."""
    records = airtable_api_for(sandbox).table(DEMO_BASE_ID, table.id).all()
    return [r for r in records if r["fields"].get(table.idempotency_field) == key]


def outbox_rows(database_url: str) -> list[tuple]:
    return app_sql(
        database_url, "select mirror_table, row_id::text, operation, status, version from airtable_sync.outbox"
    )
