"""Freshness: the table's last applied change, successful sync or webhook pass is younger than its bound, and no
webhook notification or outbox change has waited longer than that.

The bound is the spec's ``freshness_seconds``, by default 120 s for the fast lane (users) and twice the poll
interval otherwise. A webhook pass over the base counts: a quiet table whose base's payloads were all applied a
moment ago is current. A table never synced is not fresh. Reads Postgres only: cheap enough to run every minute.
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
                "(select max(applied_at) from {events} e where e.base_id = %(base)s and e.table_id = %(table)s), "
                "(select last_applied_at from {hooks} h where h.base_id = %(base)s), "
                "(select min(received_at) from {inbox} i where i.base_id = %(base)s and i.processed_at is null), "
                "(select min(changed_at) from {outbox} o where o.base_id = %(base)s and o.table_id = %(table)s "
                "and o.status = 'pending') "
                "from (select 1) one left join {state} s on s.base_id = %(base)s and s.table_id = %(table)s"
            ).format(
                events=state_table("change_event"),
                state=state_table("table_state"),
                hooks=state_table("webhook"),
                inbox=state_table("inbox"),
                outbox=state_table("outbox"),
            ),
            {"base": base.id, "table": table.id},
        )
        now, full, incremental, change, webhook_pass, oldest_waiting, oldest_unpushed = cur.fetchone()
    moments = {"full sync": full, "incremental sync": incremental, "applied change": change}
    # A webhook pass is proof of freshness only once the table has been synced at all.
    if moments_known(moments):
        moments["webhook pass"] = webhook_pass
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
    queues = (
        (oldest_waiting, "oldest_waiting_notification_seconds", "a webhook notification", "the applier"),
        (oldest_unpushed, "oldest_outbox_change_seconds", "a change in the outbox", "the pusher"),
    )
    for oldest, detail, what, worker in queues:
        if oldest is None:
            continue
        waited = (now - oldest).total_seconds()
        details[detail] = round(waited, 1)
        if waited > bound:  # a queue nobody drains: the table falls behind whatever its last sync says
            passed = False
            reason = f"{what} has waited {waited:.0f} s, over the {bound} s bound: is {worker} running?"
    return CheckResult(table_name(base, table), "freshness", passed, "error", reason, details=details)


def moments_known(moments: dict[str, datetime | None]) -> bool:
    return any(moment is not None for moment in moments.values())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
