"""Webhook state in ``airtable_sync``: the base's hook (id, MAC secret, cursor, expiry), its inbox, dead letters
and reported schema drift. Functions take the caller's cursor, so applying a payload page and advancing the
cursor commit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres.sync_state import state_table

MAX_ERROR_CHARS = 2000
# A stored notification wakes every applier listening, in any process, the moment its transaction commits.
NOTIFY_CHANNEL = "airtable_pg_inbox"
# An error payload (INVALID_HOOK) condemns the hook for good: that note survives later passes until the hook is
# replaced, while a passing hiccup's note is cleared by the next pass that applies.
HOOK_ERROR_PREFIX = "Airtable sent an error payload"

_COLUMNS = (
    "base_id, webhook_id, mac_secret, cursor, notification_url, specification, expires_at, "
    "last_applied_at, last_notification_at, last_error"
)


@dataclass(frozen=True)
class WebhookRecord:
    base_id: str
    webhook_id: str
    mac_secret: str = field(repr=False)  # base64, as Airtable gave it; never printed
    cursor: int
    notification_url: str | None
    specification: dict[str, Any]
    expires_at: datetime | None
    last_applied_at: datetime | None = None
    last_notification_at: datetime | None = None
    last_error: str | None = None


def _select(where: str, *, lock: bool = False) -> sql.Composed:
    return sql.SQL("select " + _COLUMNS + " from {} where " + where + (" for update" if lock else "")).format(
        state_table("webhook")
    )


def load_webhook(cur: Cursor, base_id: str, *, lock: bool = False) -> WebhookRecord | None:
    """The base's hook; ``lock`` holds its row until the transaction ends (one applier per base at a time)."""
    cur.execute(_select("base_id = %s", lock=lock), (base_id,))
    row = cur.fetchone()
    return WebhookRecord(*row) if row else None


def webhook_by_id(cur: Cursor, webhook_id: str) -> WebhookRecord | None:
    cur.execute(_select("webhook_id = %s"), (webhook_id,))
    row = cur.fetchone()
    return WebhookRecord(*row) if row else None


def save_webhook(cur: Cursor, hook: WebhookRecord) -> None:
    """Store a (new) hook for its base, replacing the previous one's id, secret and cursor."""
    cur.execute(
        sql.SQL(
            "insert into {} (base_id, webhook_id, mac_secret, cursor, notification_url, specification, expires_at) "
            "values (%s, %s, %s, %s, %s, %s, %s) on conflict (base_id) do update set "
            "webhook_id = excluded.webhook_id, mac_secret = excluded.mac_secret, cursor = excluded.cursor, "
            "notification_url = excluded.notification_url, specification = excluded.specification, "
            "expires_at = excluded.expires_at, created_at = now(), last_error = null"
        ).format(state_table("webhook")),
        (
            hook.base_id,
            hook.webhook_id,
            hook.mac_secret,
            hook.cursor,
            hook.notification_url,
            Jsonb(hook.specification),
            hook.expires_at,
        ),
    )


def forget_webhook(cur: Cursor, base_id: str) -> None:
    cur.execute(sql.SQL("delete from {} where base_id = %s").format(state_table("webhook")), (base_id,))


def set_expiry(cur: Cursor, base_id: str, expires_at: datetime | None) -> None:
    cur.execute(
        sql.SQL("update {} set expires_at = %s where base_id = %s").format(state_table("webhook")),
        (expires_at, base_id),
    )


def advance_cursor(cur: Cursor, base_id: str, cursor: int) -> None:
    """Move the payload cursor forward (never back) and note the moment."""
    cur.execute(
        sql.SQL(
            "update {} set cursor = greatest(cursor, %s), last_applied_at = now(), "
            "last_error = case when starts_with(last_error, %s) then last_error end where base_id = %s"
        ).format(state_table("webhook")),
        (cursor, HOOK_ERROR_PREFIX, base_id),
    )


def note_error(cur: Cursor, base_id: str, error: str | None) -> None:
    cur.execute(
        sql.SQL("update {} set last_error = %s where base_id = %s").format(state_table("webhook")),
        (error[:MAX_ERROR_CHARS] if error else None, base_id),
    )


# -- inbox ---------------------------------------------------------------------------------------------


def store_notification(cur: Cursor, hook: WebhookRecord, body: dict[str, Any]) -> int:
    """A verified notification: it only says "payloads are waiting"; the applier reads them from the cursor."""
    cur.execute(
        sql.SQL("insert into {} (base_id, webhook_id, body) values (%s, %s, %s) returning id").format(
            state_table("inbox")
        ),
        (hook.base_id, hook.webhook_id, Jsonb(body)),
    )
    notification_id = cur.fetchone()[0]
    cur.execute("select pg_notify(%s, %s)", (NOTIFY_CHANNEL, hook.base_id))
    cur.execute(
        sql.SQL("update {} set last_notification_at = now() where base_id = %s").format(state_table("webhook")),
        (hook.base_id,),
    )
    return notification_id


def pending_notifications(cur: Cursor, base_id: str) -> int:
    cur.execute(
        sql.SQL("select count(*) from {} where base_id = %s and processed_at is null").format(state_table("inbox")),
        (base_id,),
    )
    return cur.fetchone()[0]


def mark_processed(cur: Cursor, base_id: str, up_to_id: int | None = None) -> None:
    """Notifications that arrived before an applier pass began are answered by it."""
    cur.execute(
        sql.SQL(
            "update {} set processed_at = now() where base_id = %s and processed_at is null "
            "and (%s::bigint is null or id <= %s)"
        ).format(state_table("inbox")),
        (base_id, up_to_id, up_to_id),
    )


def latest_notification_id(cur: Cursor, base_id: str) -> int | None:
    cur.execute(sql.SQL("select max(id) from {} where base_id = %s").format(state_table("inbox")), (base_id,))
    return cur.fetchone()[0]


# -- dead letters and drift ----------------------------------------------------------------------------


def add_dead_letter(
    cur: Cursor,
    *,
    direction: str,
    base_id: str,
    payload: Any,
    error: str,
    table_id: str | None = None,
    airtable_id: str | None = None,
) -> int:
    cur.execute(
        sql.SQL(
            "insert into {} (direction, base_id, table_id, airtable_id, payload, error) "
            "values (%s, %s, %s, %s, %s, %s) returning id"
        ).format(state_table("dead_letter")),
        (direction, base_id, table_id, airtable_id, Jsonb(payload), error[:MAX_ERROR_CHARS]),
    )
    return cur.fetchone()[0]


def record_drift(
    cur: Cursor, *, base_id: str, table_id: str | None, field_id: str | None, kind: str, detail: dict[str, Any]
) -> None:
    cur.execute(
        sql.SQL("insert into {} (base_id, table_id, field_id, kind, detail) values (%s, %s, %s, %s, %s)").format(
            state_table("schema_drift")
        ),
        (base_id, table_id, field_id, kind, Jsonb(detail)),
    )
