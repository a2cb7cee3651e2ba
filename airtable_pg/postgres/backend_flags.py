"""The backend flags' rows and their audit trail (``airtable_sync.backend_flag``, ``backend_flag_audit``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import Cursor, sql

from airtable_pg.postgres.sync_state import state_table

FLAGS, AUDIT = state_table("backend_flag"), state_table("backend_flag_audit")


@dataclass(frozen=True)
class StoredFlag:
    entity: str
    mode: str
    version: int
    updated_at: datetime
    updated_by: str
    reason: str


@dataclass(frozen=True)
class FlagChange:
    entity: str
    from_mode: str
    to_mode: str
    actor: str
    reason: str
    source: str
    forced: bool
    at: datetime


def stored_flags(cur: Cursor) -> dict[str, StoredFlag]:
    cur.execute(sql.SQL("select entity, mode, version, updated_at, updated_by, reason from {}").format(FLAGS))
    return {row[0]: StoredFlag(*row) for row in cur.fetchall()}


def write_flag(
    cur: Cursor,
    *,
    entity: str,
    base_id: str,
    table_id: str,
    mode: str,
    actor: str,
    reason: str,
    source: str,
    forced: bool,
) -> tuple[str, StoredFlag]:
    """Set one entity's mode and append the audit row in the caller's transaction; returns the mode it had.

    The entity is locked first, so two people flipping it at once are serialized and each audit row names the
    mode the change really replaced."""
    # A lock per entity, not the row's: the first change has no row to lock yet.
    cur.execute("select pg_advisory_xact_lock(hashtext('airtable_pg.backend_flag:' || %s))", (entity,))
    cur.execute(sql.SQL("select mode from {} where entity = %s").format(FLAGS), (entity,))
    row = cur.fetchone()
    previous = row[0] if row else "airtable"
    cur.execute(
        sql.SQL(
            "insert into {} as f (entity, base_id, table_id, mode, updated_by, reason) "
            "values (%s, %s, %s, %s, %s, %s) on conflict (entity) do update set mode = excluded.mode, "
            "version = f.version + 1, updated_at = now(), updated_by = excluded.updated_by, reason = excluded.reason "
            "returning entity, mode, version, updated_at, updated_by, reason"
        ).format(FLAGS),
        (entity, base_id, table_id, mode, actor, reason),
    )
    stored = StoredFlag(*cur.fetchone())
    cur.execute(
        sql.SQL(
            "insert into {} (entity, from_mode, to_mode, actor, reason, source, forced) "
            "values (%s, %s, %s, %s, %s, %s, %s)"
        ).format(AUDIT),
        (entity, previous, mode, actor, reason, source, forced),
    )
    return previous, stored


def flag_history(cur: Cursor, entity: str | None, limit: int) -> list[FlagChange]:
    cur.execute(
        sql.SQL(
            "select entity, from_mode, to_mode, actor, reason, source, forced, at from {} "
            "where %s::text is null or entity = %s order by id desc limit %s"
        ).format(AUDIT),
        (entity, entity, limit),
    )
    return [FlagChange(*row) for row in cur.fetchall()]
