"""The outbox of Postgres-authoritative tables, their idempotency-key fields and their conflicts.

Triggers (``airtable_sync.outbox_capture``, installed per table by the mirror migrations) write one outbox row
per changed mirror row in the app's own transaction; several changes coalesce into that row and bump its
``version``. The pusher claims due rows under a short lease (no lock is held while Airtable answers, so the
app's writes never wait for a push), pushes each row's *current* state, and marks the row done only if its
version did not move meanwhile. Functions take the caller's cursor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres import dead_letters
from airtable_pg.postgres.sync_state import state_table
from airtable_pg.postgres.webhook_state import MAX_ERROR_CHARS

NOTIFY_CHANNEL = "airtable_pg_outbox"  # the trigger notifies it with the base id: pushers wake at once
ORIGIN_SETTING = "airtable_pg.origin"  # 'sync' in a transaction: its writes are the sync's, not the app's


def mark_sync_origin(cur: Cursor) -> None:
    """The rest of this transaction writes as the sync: the outbox triggers ignore it (no echo loops)."""
    cur.execute("select set_config(%s, 'sync', true)", (ORIGIN_SETTING,))


@dataclass(frozen=True)
class OutboxItem:
    id: int
    base_id: str
    table_id: str
    mirror_schema: str
    mirror_table: str
    row_id: uuid.UUID
    airtable_id: str | None
    operation: str  # upsert | delete
    version: int
    attempts: int
    changed_at: datetime
    pushed_fields: dict[str, Any] | None
    history: list[dict[str, Any]]


_ITEM_COLUMNS = (
    "id, base_id, table_id, mirror_schema, mirror_table, row_id, airtable_id, operation, version, attempts, "
    "changed_at, pushed_fields, history"
)


def claim_due(cur: Cursor, base_id: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
    """Up to ``limit`` due items of ``base_id``, oldest change first, leased to this pusher for ``lease_seconds``.

    A pusher killed mid-push simply lets its lease run out; the next one pushes the items again (creates are
    upserts on the idempotency key, so nothing is created twice).
    """
    cur.execute(
        sql.SQL(
            "update {t} o set claimed_until = now() + make_interval(secs => %s) where o.id in ("
            "select id from {t} where base_id = %s and status = 'pending' and next_attempt_at <= now() "
            "and (claimed_until is null or claimed_until < now()) order by changed_at, id limit %s "
            "for update skip locked) returning " + _ITEM_COLUMNS
        ).format(t=state_table("outbox")),
        (lease_seconds, base_id, limit),
    )
    return sorted((OutboxItem(*row) for row in cur.fetchall()), key=lambda item: (item.changed_at, item.id))


def claim_rows(
    cur: Cursor, schema: str, mirror: str, row_ids: list[uuid.UUID], lease_seconds: float
) -> list[OutboxItem]:
    """The due items of these rows (the API pushes the rows it just wrote while the app waits), leased to this
    pusher; an item another pusher holds is left to it, and one that failed waits for its retry time (a waiting
    request must not spend a change's attempts faster than its back-off)."""
    cur.execute(
        sql.SQL(
            "update {t} o set claimed_until = now() + make_interval(secs => %s) "
            "where o.id in (select id from {t} where mirror_schema = %s and mirror_table = %s and row_id = any(%s) "
            "and status = 'pending' and next_attempt_at <= now() and (claimed_until is null or claimed_until < now()) "
            "order by changed_at, id for update skip locked) returning " + _ITEM_COLUMNS
        ).format(t=state_table("outbox")),
        (lease_seconds, schema, mirror, row_ids),
    )
    return sorted((OutboxItem(*row) for row in cur.fetchall()), key=lambda item: (item.changed_at, item.id))


def lock_version(cur: Cursor, item_id: int) -> int | None:
    cur.execute(sql.SQL("select version from {} where id = %s for update").format(state_table("outbox")), (item_id,))
    row = cur.fetchone()
    return row[0] if row else None


def mark_pushed(cur: Cursor, item: OutboxItem, airtable_id: str | None, pushed_fields: dict[str, Any] | None) -> bool:
    """Record a successful push (the failure history restarts); done unless the app changed the row meanwhile."""
    cur.execute(
        sql.SQL(
            "update {} set status = case when version = %s then 'done' else 'pending' end, "
            "airtable_id = coalesce(%s, airtable_id), pushed_fields = coalesce(%s, pushed_fields), pushed_at = now(), "
            "attempts = 0, last_error = null, claimed_until = null, history = '[]'::jsonb "
            "where id = %s returning status"
        ).format(state_table("outbox")),
        (item.version, airtable_id, Jsonb(pushed_fields) if pushed_fields is not None else None, item.id),
    )
    row = cur.fetchone()
    delivered = bool(row and row[0] == "done")
    if delivered:
        dead_letters.close_delivered(cur, item.id)
    return delivered


def defer(cur: Cursor, item: OutboxItem, seconds: float, reason: str) -> None:
    """Try again later without counting an attempt (a parent record is not in Airtable yet)."""
    cur.execute(
        sql.SQL(
            "update {} set claimed_until = null, next_attempt_at = now() + make_interval(secs => %s), last_error = %s "
            "where id = %s"
        ).format(state_table("outbox")),
        (seconds, reason[:MAX_ERROR_CHARS], item.id),
    )


def retry_later(cur: Cursor, item: OutboxItem, error: str, delay_seconds: float) -> None:
    cur.execute(
        sql.SQL(
            "update {} set attempts = attempts + 1, claimed_until = null, last_error = %s, "
            "next_attempt_at = now() + make_interval(secs => %s), "
            "history = history || jsonb_build_array(jsonb_build_object('at', now(), 'error', %s::text)) "
            "where id = %s and version = %s"
        ).format(state_table("outbox")),
        (error[:MAX_ERROR_CHARS], delay_seconds, error[:MAX_ERROR_CHARS], item.id, item.version),
    )
    if cur.rowcount == 0:  # the app changed the row meanwhile: its new state gets a fresh start
        release(cur, item)


def release(cur: Cursor, item: OutboxItem) -> None:
    cur.execute(sql.SQL("update {} set claimed_until = null where id = %s").format(state_table("outbox")), (item.id,))


def move_to_dead_letters(cur: Cursor, item: OutboxItem, error: str, payload: dict[str, Any]) -> int | None:
    """The item is dead (permanent error, or out of attempts): a dead letter keeps it for triage and replay."""
    cur.execute(
        sql.SQL(
            "update {} set status = 'dead', attempts = attempts + 1, claimed_until = null, last_error = %s, "
            "history = history || jsonb_build_array(jsonb_build_object('at', now(), 'error', %s::text)) "
            "where id = %s and version = %s returning attempts, history"
        ).format(state_table("outbox")),
        (error[:MAX_ERROR_CHARS], error[:MAX_ERROR_CHARS], item.id, item.version),
    )
    row = cur.fetchone()
    if row is None:  # changed meanwhile: the new state is pushed instead
        release(cur, item)
        return None
    attempts, history = row
    return dead_letters.record_outbound(
        cur,
        outbox_id=item.id,
        base_id=item.base_id,
        table_id=item.table_id,
        airtable_id=item.airtable_id,
        payload={"outbox_id": item.id, "row_id": str(item.row_id), "operation": item.operation, **payload},
        error=error[:MAX_ERROR_CHARS],
        attempts=attempts,  # this round's pushes: a replay re-queues the change with attempts at 0
        history=history,
    )


def requeue(cur: Cursor, outbox_id: int) -> bool:
    """Make an item due now with fresh attempts (a replayed dead letter); False if it no longer exists."""
    cur.execute(
        sql.SQL(
            "update {} set status = 'pending', attempts = 0, next_attempt_at = now(), claimed_until = null, "
            "version = version + 1 where id = %s returning base_id"
        ).format(state_table("outbox")),
        (outbox_id,),
    )
    row = cur.fetchone()
    if row:
        cur.execute("select pg_notify(%s, %s)", (NOTIFY_CHANNEL, row[0]))
    return row is not None


def enqueue_row(
    cur: Cursor, *, base_id: str, table_id: str, schema: str, mirror: str, row_id: uuid.UUID, airtable_id: str | None
) -> None:
    """Push this row's current state again (a conflict Postgres won): as if the app had written it."""
    cur.execute(
        sql.SQL(
            "insert into {t} as o (base_id, table_id, mirror_schema, mirror_table, row_id, airtable_id, operation, "
            "changed_at) values (%s, %s, %s, %s, %s, %s, 'upsert', clock_timestamp()) "
            "on conflict (mirror_schema, mirror_table, row_id) do update set status = 'pending', "
            "version = o.version + 1, operation = 'upsert', "
            "airtable_id = coalesce(excluded.airtable_id, o.airtable_id), "
            "changed_at = excluded.changed_at, attempts = 0, next_attempt_at = excluded.changed_at, last_error = null"
        ).format(t=state_table("outbox")),
        (base_id, table_id, schema, mirror, row_id, airtable_id),
    )
    cur.execute("select pg_notify(%s, %s)", (NOTIFY_CHANNEL, base_id))


def pushed_state(cur: Cursor, schema: str, mirror: str, row_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple]:
    """Per row: ``(status, operation, pushed_fields)`` of its outbox item (what we last sent Airtable)."""
    if not row_ids:
        return {}
    cur.execute(
        sql.SQL(
            "select row_id, status, operation, pushed_fields from {} "
            "where mirror_schema = %s and mirror_table = %s and row_id = any(%s)"
        ).format(state_table("outbox")),
        (schema, mirror, row_ids),
    )
    return {row_id: (status, operation, pushed) for row_id, status, operation, pushed in cur.fetchall()}


def pending_deletes(cur: Cursor, schema: str, mirror: str, airtable_ids: list[str]) -> set[str]:
    """Records the app deleted whose deletion is not pushed yet: inbound copies of them must not come back."""
    if not airtable_ids:
        return set()
    cur.execute(
        sql.SQL(
            "select airtable_id from {} where mirror_schema = %s and mirror_table = %s and airtable_id = any(%s) "
            "and operation = 'delete' and status <> 'done'"
        ).format(state_table("outbox")),
        (schema, mirror, airtable_ids),
    )
    return {row[0] for row in cur.fetchall()}


@dataclass(frozen=True)
class OutboxDepth:
    base_id: str
    table_id: str
    pending: int
    dead: int
    oldest_pending: datetime | None


def depth(cur: Cursor) -> list[OutboxDepth]:
    cur.execute(
        sql.SQL(
            "select base_id, table_id, count(*) filter (where status = 'pending'), "
            "count(*) filter (where status = 'dead'), min(changed_at) filter (where status = 'pending') "
            "from {} group by 1, 2 order by 1, 2"
        ).format(state_table("outbox"))
    )
    return [OutboxDepth(*row) for row in cur.fetchall()]


# -- idempotency-key fields ------------------------------------------------------------------------------


def key_field_id(cur: Cursor, base_id: str, table_id: str) -> str | None:
    cur.execute(
        sql.SQL("select field_id from {} where base_id = %s and table_id = %s").format(
            state_table("outbound_key_field")
        ),
        (base_id, table_id),
    )
    row = cur.fetchone()
    return row[0] if row else None


def save_key_field(cur: Cursor, base_id: str, table_id: str, field_id: str, field_name: str) -> None:
    cur.execute(
        sql.SQL(
            "insert into {} (base_id, table_id, field_id, field_name) values (%s, %s, %s, %s) "
            "on conflict (base_id, table_id) do update set field_id = excluded.field_id, "
            "field_name = excluded.field_name, ensured_at = now()"
        ).format(state_table("outbound_key_field")),
        (base_id, table_id, field_id, field_name),
    )


# -- conflicts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    base_id: str
    table_id: str
    airtable_id: str
    row_id: uuid.UUID | None
    field_id: str
    column_name: str
    postgres_value: Any
    airtable_value: Any
    policy: str
    resolution: str
    source: str


def record_conflict(cur: Cursor, conflict: Conflict) -> None:
    cur.execute(
        sql.SQL(
            "insert into {} (base_id, table_id, airtable_id, row_id, field_id, column_name, postgres_value, "
            "airtable_value, policy, resolution, source) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(state_table("conflict")),
        (
            conflict.base_id,
            conflict.table_id,
            conflict.airtable_id,
            conflict.row_id,
            conflict.field_id,
            conflict.column_name,
            Jsonb(conflict.postgres_value),
            Jsonb(conflict.airtable_value),
            conflict.policy,
            conflict.resolution,
            conflict.source,
        ),
    )


def seconds_until_next_due(cur: Cursor) -> float | None:
    """Seconds until the next pending item falls due (its retry time, or its lease's end); ``None``: none pending."""
    cur.execute(
        sql.SQL(
            "select extract(epoch from min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at)))"
            " - now()) from {} where status = 'pending'"
        ).format(state_table("outbox"))
    )
    seconds = cur.fetchone()[0]
    return None if seconds is None else float(seconds)


def pending_count(cur: Cursor) -> int:
    cur.execute(sql.SQL("select count(*) from {} where status = 'pending'").format(state_table("outbox")))
    return cur.fetchone()[0]
