"""Sync state in the ``airtable_sync`` schema: runs and their leases, seen-ids, watermarks, the field catalog.

Every function takes a psycopg cursor and runs inside the caller's transaction, so writing mirror rows and
moving the state that describes them commit together or not at all (apply a page *and* advance the
watermark; tombstone *and* close the run).

Runs hold a lease: ``heartbeat_at`` is renewed while a run works (every page, and by a timer while it
waits). A run whose heartbeat is older than :data:`LEASE_SECONDS` is dead — its process was killed — and
the next run to start marks it failed and drops its seen-ids. A run must still hold its lease to write
its outcome: :func:`finish_run` locks its own row first and raises :class:`RunLost` if it was declared
dead meanwhile, so an abandoned scan can never tombstone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.names import STATE_SCHEMA
from airtable_pg.postgres.errors import RunLost
from airtable_pg.spec import BaseSpec, TableSpec

# A run renews its heartbeat every HEARTBEAT_SECONDS; one silent for LEASE_SECONDS is dead. The lease is
# long enough to ride out a stalled database connection or a slow page, short enough that a killed run's
# seen-ids and "running" status are cleared within a minute rather than hours.
HEARTBEAT_SECONDS = 5.0
LEASE_SECONDS = 30.0
MAX_ERROR_CHARS = 2000


def state_table(name: str) -> sql.Identifier:
    return sql.Identifier(STATE_SCHEMA, name)


# -- runs --------------------------------------------------------------------------------------------


def reap_dead_runs(cur: Cursor) -> int:
    """Mark runs whose heartbeat stopped failed, and drop the seen-ids of every run no longer running."""
    cur.execute(
        sql.SQL(
            "update {} set status = 'failed', finished_at = now(), error = %s "
            "where status = 'running' and heartbeat_at < now() - make_interval(secs => %s)"
        ).format(state_table("sync_run")),
        (f"abandoned: no heartbeat for {LEASE_SECONDS:.0f} s (its process stopped without finishing)", LEASE_SECONDS),
    )
    reaped = cur.rowcount
    cur.execute(
        sql.SQL(
            "delete from {} s where not exists (select 1 from {} r where r.scan_id = s.scan_id "
            "and r.status = 'running')"
        ).format(state_table("scan_seen"), state_table("sync_run"))
    )
    return reaped


def start_run(cur: Cursor, base: BaseSpec, table: TableSpec, kind: str) -> tuple[uuid.UUID, datetime]:
    """Register a run holding a fresh lease; returns its id and the database's start time (the tombstone cut-off)."""
    reap_dead_runs(cur)
    run_id = uuid.uuid4()
    cur.execute(
        sql.SQL(
            "insert into {} (scan_id, base_id, table_id, kind, heartbeat_at) values (%s, %s, %s, %s, now()) "
            "returning started_at"
        ).format(state_table("sync_run")),
        (run_id, base.id, table.id, kind),
    )
    started_at = cur.fetchone()[0]
    ensure_table_state(cur, base, table)
    if kind == "full":
        cur.execute(
            sql.SQL(
                "update {} set last_full_sync_started_at = %s, updated_at = now() where base_id = %s and table_id = %s"
            ).format(state_table("table_state")),
            (started_at, base.id, table.id),
        )
    write_catalog(cur, base, table)
    return run_id, started_at


def heartbeat(cur: Cursor, run_id: uuid.UUID) -> None:
    """Renew the run's lease; :class:`RunLost` if it was declared dead (its work must stop)."""
    cur.execute(
        sql.SQL("update {} set heartbeat_at = now() where scan_id = %s and status = 'running'").format(
            state_table("sync_run")
        ),
        (run_id,),
    )
    if cur.rowcount == 0:
        raise RunLost(f"sync run {run_id} lost its lease: another process declared it dead; its scan is void")


def hold_lease(cur: Cursor, run_id: uuid.UUID) -> None:
    """Lock the run's row and check it is still running: what it writes next in this transaction is its own."""
    cur.execute(
        sql.SQL("select status from {} where scan_id = %s for update").format(state_table("sync_run")), (run_id,)
    )
    row = cur.fetchone()
    if row is None or row[0] != "running":
        raise RunLost(f"sync run {run_id} lost its lease (status {row[0] if row else 'gone'}): nothing was tombstoned")
    cur.execute(
        sql.SQL("update {} set heartbeat_at = now() where scan_id = %s").format(state_table("sync_run")), (run_id,)
    )


def mark_seen(cur: Cursor, run_id: uuid.UUID, airtable_ids: Sequence[str]) -> None:
    if airtable_ids:
        cur.execute(
            sql.SQL(
                "insert into {} (scan_id, airtable_id) select %s, unnest(%s::text[]) on conflict do nothing"
            ).format(state_table("scan_seen")),
            (run_id, list(airtable_ids)),
        )


def record_probe(
    cur: Cursor,
    base: BaseSpec,
    table: TableSpec,
    *,
    missing: int,
    oldest_id: str | None,
    oldest_created_at: datetime | None,
) -> None:
    """A poll probe's look at Airtable: records on its first page the mirror lacked, and the oldest of them."""
    cur.execute(
        sql.SQL(
            "update {} set probe_checked_at = now(), probe_missing = %s, probe_missing_record_id = %s, "
            "probe_missing_created_at = %s where base_id = %s and table_id = %s"
        ).format(state_table("table_state")),
        (missing, oldest_id, oldest_created_at, base.id, table.id),
    )


@dataclass(frozen=True)
class TableCounts:
    """A mirror table's rows when a run finished (``/metrics`` serves them from ``table_state``)."""

    live: int
    tombstones: int
    cell_errors: int | None  # cells of live rows their typed column could not hold (None: not counted this run)


def finish_run(
    cur: Cursor,
    run_id: uuid.UUID,
    base: BaseSpec,
    table: TableSpec,
    *,
    full: bool,
    counts: TableCounts,
    stats: dict[str, Any],
    watermark: datetime | None = None,
    refresh_only: bool = False,
) -> None:
    """Close a run that still holds its lease (call :func:`hold_lease` first in the same transaction).

    ``refresh_only``: a computed-field refresh, which read no changed records and moves neither sync time.
    """
    column = "last_full_sync_completed_at" if full else "last_incremental_sync_at"
    moved = sql.SQL("") if refresh_only else sql.SQL("{} = now(), ").format(sql.Identifier(column))
    cur.execute(
        sql.SQL(
            "update {} set {}row_count = %s, tombstones = %s, cell_errors = coalesce(%s, cell_errors), "
            "last_error = null, updated_at = now() where base_id = %s and table_id = %s"
        ).format(state_table("table_state"), moved),
        (counts.live, counts.tombstones, counts.cell_errors, base.id, table.id),
    )
    if watermark is not None:
        advance_watermark(cur, base, table, watermark)
    cur.execute(sql.SQL("delete from {} where scan_id = %s").format(state_table("scan_seen")), (run_id,))
    cur.execute(
        sql.SQL("update {} set status = 'succeeded', finished_at = now(), stats = %s where scan_id = %s").format(
            state_table("sync_run")
        ),
        (Jsonb(stats), run_id),
    )


def fail_run(cur: Cursor, run_id: uuid.UUID, base: BaseSpec, table: TableSpec, error: str) -> None:
    """Mark a run failed and drop what it saw: an interrupted scan tombstones nothing."""
    error = error[:MAX_ERROR_CHARS]
    cur.execute(sql.SQL("delete from {} where scan_id = %s").format(state_table("scan_seen")), (run_id,))
    cur.execute(
        sql.SQL(
            "update {} set status = 'failed', finished_at = now(), error = %s where scan_id = %s and status = 'running'"
        ).format(state_table("sync_run")),
        (error, run_id),
    )
    cur.execute(
        sql.SQL("update {} set last_error = %s, updated_at = now() where base_id = %s and table_id = %s").format(
            state_table("table_state")
        ),
        (error, base.id, table.id),
    )


# -- per table ---------------------------------------------------------------------------------------


def ensure_table_state(cur: Cursor, base: BaseSpec, table: TableSpec) -> None:
    cur.execute(
        sql.SQL(
            "insert into {} (base_id, table_id, mirror_schema, mirror_table) values (%s, %s, %s, %s) "
            "on conflict (base_id, table_id) do update set mirror_schema = excluded.mirror_schema, "
            "mirror_table = excluded.mirror_table"
        ).format(state_table("table_state")),
        (base.id, table.id, base.schema, table.mirror),
    )


def read_watermark(cur: Cursor, base: BaseSpec, table: TableSpec) -> datetime | None:
    cur.execute(
        sql.SQL("select poll_watermark from {} where base_id = %s and table_id = %s").format(
            state_table("table_state")
        ),
        (base.id, table.id),
    )
    row = cur.fetchone()
    return row[0] if row else None


def advance_watermark(cur: Cursor, base: BaseSpec, table: TableSpec, watermark: datetime) -> None:
    ensure_table_state(cur, base, table)
    # greatest(): a slow, older run finishing late must never move the watermark backwards.
    cur.execute(
        sql.SQL(
            "update {} set poll_watermark = greatest(poll_watermark, %s), updated_at = now() "
            "where base_id = %s and table_id = %s"
        ).format(state_table("table_state")),
        (watermark, base.id, table.id),
    )


def write_catalog(cur: Cursor, base: BaseSpec, table: TableSpec) -> None:
    """Which column holds which field id, as the spec says now (what a rename in Airtable must not move)."""
    rows = [
        (
            base.id,
            table.id,
            f.id,
            f.name,
            f.type,
            base.schema,
            table.mirror,
            f.column,
            f.pg_type,
            table.join_table(f) if f.is_link else None,
        )
        for f in table.fields.values()
    ]
    cur.executemany(
        sql.SQL(
            "insert into {} (base_id, table_id, field_id, airtable_name, airtable_type, mirror_schema, "
            "mirror_table, column_name, pg_type, join_table) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "on conflict (base_id, table_id, field_id) do update set airtable_name = excluded.airtable_name, "
            "airtable_type = excluded.airtable_type, mirror_schema = excluded.mirror_schema, "
            "mirror_table = excluded.mirror_table, column_name = excluded.column_name, "
            "pg_type = excluded.pg_type, join_table = excluded.join_table, updated_at = now() "
            "where ({t}.airtable_name, {t}.airtable_type, {t}.column_name, {t}.pg_type, {t}.join_table) "
            "is distinct from (excluded.airtable_name, excluded.airtable_type, excluded.column_name, "
            "excluded.pg_type, excluded.join_table)"
        ).format(state_table("field_catalog"), t=sql.Identifier("field_catalog")),
        rows,
    )


def computed_cells_read_at(cur: Cursor, base: BaseSpec, table: TableSpec) -> datetime | None:
    """When the latest successful read of the table's computed cells (a full sync or a refresh) started: a change
    applied after that moment may not be in what it read."""
    cur.execute(
        sql.SQL(
            "select max(started_at) from {} where base_id = %s and table_id = %s and status = 'succeeded' "
            "and kind in ('full', 'computed')"
        ).format(state_table("sync_run")),
        (base.id, table.id),
    )
    return cur.fetchone()[0]


def tables_changed_since(cur: Cursor, base_id: str, table_ids: list[str], since: datetime) -> list[str]:
    """Which of these tables had a change applied (any source) after ``since``; walks the applied-at index."""
    cur.execute(
        sql.SQL(
            "select distinct table_id from {} where applied_at > %s and base_id = %s and table_id = any(%s) "
            "order by table_id"
        ).format(state_table("change_event")),
        (since, base_id, table_ids),
    )
    return [table_id for (table_id,) in cur.fetchall()]


def last_successes(cur: Cursor, base: BaseSpec, table: TableSpec) -> dict[str, datetime]:
    """When the table's latest successful run of each kind (full, incremental, computed) finished."""
    cur.execute(
        sql.SQL(
            "select kind, max(finished_at) from {} where base_id = %s and table_id = %s and status = 'succeeded' "
            "group by kind"
        ).format(state_table("sync_run")),
        (base.id, table.id),
    )
    return {kind: finished for kind, finished in cur.fetchall() if finished is not None}
