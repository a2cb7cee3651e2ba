"""Dead letters (``airtable_sync.dead_letter``): changes that could not be applied or pushed, kept for triage.

Both directions live in one table: ``inbound`` (a webhook payload the applier could not apply) and ``outbound``
(an outbox change Airtable refused, or that ran out of attempts). A letter is ``open`` until its change is
delivered (``replayed``: applied, or pushed to Airtable) or a person discards it; a replay that fails again leaves it
open with one more attempt and the new error, so one change is one letter however often it is retried. Nothing
deletes a letter: the table is its own audit trail (who decided what, when, and why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres.sync_state import state_table

_COLUMNS = (
    "id, direction, base_id, table_id, airtable_id, payload, error, attempts, status, created_at, updated_at, "
    "history, resolution_reason, resolved_at"
)


@dataclass(frozen=True)
class DeadLetter:
    id: int
    direction: str
    base_id: str
    table_id: str | None
    airtable_id: str | None
    payload: Any
    error: str
    attempts: int
    status: str
    created_at: datetime
    updated_at: datetime
    history: list[dict[str, Any]]
    resolution_reason: str | None
    resolved_at: datetime | None


def list_letters(cur: Cursor, *, status: str | None = "open", direction: str | None = None) -> list[DeadLetter]:
    cur.execute(
        sql.SQL(
            "select " + _COLUMNS + " from {} where (%s::text is null or status = %s) "
            "and (%s::text is null or direction = %s) order by id"
        ).format(state_table("dead_letter")),
        (status, status, direction, direction),
    )
    return [DeadLetter(*row) for row in cur.fetchall()]


def get(cur: Cursor, letter_id: int, *, lock: bool = False) -> DeadLetter | None:
    cur.execute(
        sql.SQL("select " + _COLUMNS + " from {} where id = %s" + (" for update" if lock else "")).format(
            state_table("dead_letter")
        ),
        (letter_id,),
    )
    row = cur.fetchone()
    return DeadLetter(*row) if row else None


def open_ids(cur: Cursor) -> list[int]:
    cur.execute(sql.SQL("select id from {} where status = 'open' order by id").format(state_table("dead_letter")))
    return [row[0] for row in cur.fetchall()]


def resolve(cur: Cursor, letter_id: int, status: str, reason: str | None) -> None:
    """Close a letter as ``replayed`` or ``discarded``; the row stays, with the reason and the moment."""
    cur.execute(
        sql.SQL(
            "update {} set status = %s, resolution_reason = %s, resolved_at = now(), updated_at = now() where id = %s"
        ).format(state_table("dead_letter")),
        (status, reason, letter_id),
    )


def record_outbound(
    cur: Cursor, *, outbox_id: int, base_id: str, table_id: str, airtable_id: str | None, payload: dict[str, Any],
    error: str, attempts: int, history: list[dict[str, Any]],
) -> int:  # fmt: skip
    """The dead letter of an outbox change: its open letter grows (a replay failed again), else a new one opens."""
    cur.execute(
        sql.SQL(
            "update {} set error = %s, attempts = attempts + %s, payload = %s, "
            "airtable_id = coalesce(%s, airtable_id), updated_at = now(), "
            "history = history || jsonb_build_array(jsonb_build_object('at', now(), 'error', %s::text)) "
            "where direction = 'outbound' and status = 'open' and (payload ->> 'outbox_id')::bigint = %s returning id"
        ).format(state_table("dead_letter")),
        (error, attempts, Jsonb(payload), airtable_id, error, outbox_id),
    )
    row = cur.fetchone()
    if row is not None:
        return row[0]
    cur.execute(
        sql.SQL(
            "insert into {} (direction, base_id, table_id, airtable_id, payload, error, attempts, history) "
            "values ('outbound', %s, %s, %s, %s, %s, %s, %s) returning id"
        ).format(state_table("dead_letter")),
        (base_id, table_id, airtable_id, Jsonb(payload), error, attempts, Jsonb(history)),
    )
    return cur.fetchone()[0]


def close_delivered(cur: Cursor, outbox_id: int) -> None:
    """An outbox change reached Airtable: its open letter (if a replay re-queued it) is closed as ``replayed``."""
    cur.execute(
        sql.SQL(
            "update {} set status = 'replayed', resolution_reason = 'delivered to Airtable', resolved_at = now(), "
            "updated_at = now() where direction = 'outbound' and status = 'open' "
            "and (payload ->> 'outbox_id')::bigint = %s"
        ).format(state_table("dead_letter")),
        (outbox_id,),
    )


def note_replay(cur: Cursor, letter_id: int, event: str) -> None:
    """A replay step in the letter's history (its attempt is counted when the push fails or delivers)."""
    _append_history(cur, letter_id, "replay", event, failed=False)


def note_failed_replay(cur: Cursor, letter_id: int, error: str) -> None:
    _append_history(cur, letter_id, "error", error, failed=True)


def _append_history(cur: Cursor, letter_id: int, key: str, text: str, *, failed: bool) -> None:
    """One ``{"at", key: text}`` entry in the letter's history; a failure also counts an attempt and is its error."""
    failure = "attempts = attempts + 1, error = %(text)s, " if failed else ""
    cur.execute(
        sql.SQL(
            "update {} set " + failure + "updated_at = now(), history = history || "
            "jsonb_build_array(jsonb_build_object('at', now(), %(key)s::text, %(text)s::text)) where id = %(id)s"
        ).format(state_table("dead_letter")),
        {"text": text, "key": key, "id": letter_id},
    )
