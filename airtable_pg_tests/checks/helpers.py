"""A synced demo base for the checks' tests, and ways to break it behind the sync's back."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from airtable_pg.checks.context import CheckContext
from airtable_pg.checks.result import CheckResult
from airtable_pg.checks.runner import run_check
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import SyncSpec, load_spec
from airtable_pg_tests.sync_helpers import make_sync_engine, sandbox_runtime
from airtable_sandbox.server import Sandbox

DEMO = load_spec()
BASE = DEMO.bases["coaching"]


def synced(sandbox: Sandbox, database_url: str, spec: SyncSpec = DEMO) -> CheckContext:
    """Fully sync ``sandbox`` into ``database_url``; a check context for both."""
    with make_sync_engine(sandbox, database_url, spec) as engine:
        engine.sync_tables("full")
    return context(sandbox, database_url, spec)


def context(sandbox: Sandbox, database_url: str, spec: SyncSpec = DEMO) -> CheckContext:
    return sandbox_runtime(sandbox, database_url, spec).checks()


def check(ctx: CheckContext, name: str, table: str) -> CheckResult:
    base = ctx.spec.bases["coaching"]
    return run_check(ctx, name, base, base.tables[table])


def execute(database_url: str, query: str, *params: Any) -> list[tuple]:
    """SQL straight into the database, as something other than the sync would."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        cur = conn.execute(sql.SQL(query), params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def any_live_id(database_url: str, table: str, where: str = "true") -> str:
    return execute(
        database_url,
        f"select airtable_id from airtable.{table} where deleted_at is null and {where} order by airtable_id limit 1",
    )[0][0]
