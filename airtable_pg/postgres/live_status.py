"""How the live sync is doing, from the state schema: applied-change latency, waiting notifications, dead letters.

Latency is ``applied_at − source_time`` of each ``change_event``: Airtable's time of the change (a webhook
payload's timestamp, or a record's last-modified/created time for polls) to our commit. For the users fast
lane this is the provisioning latency the SLO is about. Full syncs are left out of it: a backfill of records
created months ago says nothing about how fast the live sync is; they are counted apart (``imports``), so the
first import does not look like a mirror that received nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import Cursor, sql

from airtable_pg.postgres.sync_state import state_table


@dataclass(frozen=True)
class TableLatency:
    base_id: str
    table_id: str
    changes: int
    p50_seconds: float | None
    p95_seconds: float | None
    p99_seconds: float | None
    last_applied_at: datetime | None


def latencies(cur: Cursor, window: timedelta, *, kinds: tuple[str, ...] = ("created", "updated")) -> list[TableLatency]:
    """Per table, the latency percentiles of the changes applied in the last ``window``."""
    cur.execute(
        sql.SQL(
            "select base_id, table_id, count(*), "
            "percentile_cont(0.5) within group (order by extract(epoch from applied_at - source_time)), "
            "percentile_cont(0.95) within group (order by extract(epoch from applied_at - source_time)), "
            "percentile_cont(0.99) within group (order by extract(epoch from applied_at - source_time)), "
            "max(applied_at) from {} where applied_at > now() - %s and source_time is not null "
            "and kind = any(%s) and source <> 'full' group by base_id, table_id order by base_id, table_id"
        ).format(state_table("change_event")),
        (window, list(kinds)),
    )
    return [TableLatency(*row) for row in cur.fetchall()]


def waiting_notifications(cur: Cursor) -> dict[str, tuple[int, datetime | None]]:
    """Per base: notifications not yet answered by an applier pass, and the oldest one's arrival."""
    cur.execute(
        sql.SQL(
            "select base_id, count(*), min(received_at) from {} where processed_at is null group by base_id"
        ).format(state_table("inbox"))
    )
    return {base_id: (count, oldest) for base_id, count, oldest in cur.fetchall()}


def open_dead_letters(cur: Cursor) -> dict[tuple[str, str], int]:
    """Per (base, direction): dead letters waiting for triage."""
    cur.execute(
        sql.SQL("select base_id, direction, count(*) from {} where status = 'open' group by 1, 2").format(
            state_table("dead_letter")
        )
    )
    return {(base_id, direction): count for base_id, direction, count in cur.fetchall()}


@dataclass(frozen=True)
class TableImport:
    rows: int | None  # live rows after the last sync (table_state)
    last_full_sync_at: datetime | None
    imported: int  # rows a full sync created or changed in the window


def imports(cur: Cursor, window: timedelta) -> dict[tuple[str, str], TableImport]:
    """Per table: its rows, its last full sync and what full syncs wrote in the last ``window``."""
    cur.execute(
        sql.SQL(
            "select s.base_id, s.table_id, s.row_count, s.last_full_sync_completed_at, "
            "(select count(*) from {events} e where e.base_id = s.base_id and e.table_id = s.table_id "
            "and e.source = 'full' and e.applied_at > now() - %s) from {state} s"
        ).format(events=state_table("change_event"), state=state_table("table_state")),
        (window,),
    )
    return {(base_id, table_id): TableImport(rows, last, imported) for base_id, table_id, rows, last, imported in cur}


def latency_quantile(
    cur: Cursor, quantile: float, window: timedelta, table_ids: list[tuple[str, str]]
) -> list[tuple[str, str, float, int]]:
    """Per table of ``table_ids``: the ``quantile`` of live changes' latency in the last ``window``, and their count
    (the alerter's provisioning SLO; the same changes as :func:`latencies`, through the ``applied_at`` index)."""
    cur.execute(
        sql.SQL(
            "select base_id, table_id, percentile_cont(%s) within group "
            "(order by extract(epoch from applied_at - source_time)), count(*) from {} "
            "where applied_at > now() - %s and source_time is not null and kind in ('created', 'updated') "
            "and source <> 'full' and (base_id, table_id) in (select * from unnest(%s::text[], %s::text[])) "
            "group by base_id, table_id"
        ).format(state_table("change_event")),
        (quantile, window, [b for b, _ in table_ids], [t for _, t in table_ids]),
    )
    return [(base_id, table_id, float(value), count) for base_id, table_id, value, count in cur.fetchall()]
