"""The latest result of each cutover gate per table, in ``airtable_sync.check_result``.

Whoever runs a check (a Dagster asset check, ``airtable-pg checks run``) stores its result here, so
``airtable-pg cutover status`` reads one place whichever ran it last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg import sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres.sync_state import state_table
from airtable_pg.postgres.transaction import transaction


@dataclass(frozen=True)
class StoredResult:
    base_id: str
    table_id: str
    check: str
    passed: bool
    severity: str
    reason: str
    failing_ids: list[str]
    checked_at: datetime
    details: dict[str, Any] = field(default_factory=dict)


def store_results(db: sa.Engine, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """Upsert ``(base_id, table_id, result.as_json())`` rows: each replaces that gate's previous result."""
    values = [
        (base_id, table_id, r["check"], r["passed"], r["severity"], r["reason"], r["failing_ids"],
         Jsonb(r["details"]), r["requests"], r["seconds"])
        for base_id, table_id, r in rows
    ]  # fmt: skip
    if not values:
        return
    with transaction(db) as cur:
        cur.executemany(
            sql.SQL(
                "insert into {} (base_id, table_id, check_name, passed, severity, reason, failing_ids, details, "
                "requests, seconds, checked_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now()) "
                "on conflict (base_id, table_id, check_name) do update set passed = excluded.passed, "
                "severity = excluded.severity, reason = excluded.reason, failing_ids = excluded.failing_ids, "
                "details = excluded.details, requests = excluded.requests, seconds = excluded.seconds, "
                "checked_at = excluded.checked_at"
            ).format(state_table("check_result")),
            values,
        )


def latest_results(db: sa.Engine, *, base_id: str | None = None, table_id: str | None = None) -> list[StoredResult]:
    """Each gate's latest result, of every table or of one (``base_id`` and ``table_id``)."""
    with transaction(db) as cur:
        cur.execute(
            sql.SQL(
                "select base_id, table_id, check_name, passed, severity, reason, failing_ids, checked_at, details "
                "from {} where (%(base)s::text is null or base_id = %(base)s) "
                "and (%(table)s::text is null or table_id = %(table)s) "
                "order by base_id, table_id, check_name"
            ).format(state_table("check_result")),
            {"base": base_id, "table": table_id},
        )
        return [StoredResult(*row) for row in cur.fetchall()]
