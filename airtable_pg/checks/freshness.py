"""Freshness: the table's last applied change or successful sync is younger than its bound.

The bound is the spec's ``freshness_seconds``, by default 120 s for the fast lane (users) and twice the poll
interval otherwise. A table never synced is not fresh. Reads Postgres only: cheap enough to run every minute.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from airtable_pg.checks.context import CheckContext, table_name
from airtable_pg.checks.result import CheckResult
from airtable_pg.postgres.sync_state import state_table
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, TableSpec


def freshness(ctx: CheckContext, base: BaseSpec, table: TableSpec) -> CheckResult:
    bound = table.freshness_bound_seconds
    with transaction(ctx.db) as cur:
        cur.execute(
            sql.SQL(
                "select now(), s.last_full_sync_completed_at, s.last_incremental_sync_at, "
                "(select max(applied_at) from {events} e where e.base_id = %(base)s and e.table_id = %(table)s) "
                "from (select 1) one left join {state} s on s.base_id = %(base)s and s.table_id = %(table)s"
            ).format(events=state_table("change_event"), state=state_table("table_state")),
            {"base": base.id, "table": table.id},
        )
        now, full, incremental, change = cur.fetchone()
    moments = {"full sync": full, "incremental sync": incremental, "applied change": change}
    known = {what: moment for what, moment in moments.items() if moment is not None}
    details = {"bound_seconds": bound, **{what.replace(" ", "_"): _iso(m) for what, m in moments.items()}}
    if not known:
        return CheckResult(
            table_name(base, table), "freshness", False, "error", "never synced: no completed sync, no applied change",
            details=details,
        )  # fmt: skip
    latest_what, latest = max(known.items(), key=lambda item: item[1])
    age = (now - latest).total_seconds()
    details["age_seconds"] = round(age, 1)
    passed = age <= bound
    verdict = "within" if passed else "over"
    reason = f"last {latest_what} {age:.0f} s ago, {verdict} the {bound} s bound"
    return CheckResult(table_name(base, table), "freshness", passed, "error", reason, details=details)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
