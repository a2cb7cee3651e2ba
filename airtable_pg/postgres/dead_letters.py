"""Dead letters (``airtable_sync.dead_letter``): changes that could not be applied or pushed, kept for triage.

Both directions live in one table: ``inbound`` (a webhook payload the applier could not apply) and ``outbound``
(an outbox change Airtable refused, or that ran out of attempts). A letter is ``open`` until a person replays or
discards it; neither deletes it, so the table is its own audit trail (who decided what, when, and why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql

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


def note_failed_replay(cur: Cursor, letter_id: int, error: str) -> None:
    cur.execute(
        sql.SQL(
            "update {} set attempts = attempts + 1, error = %s, updated_at = now(), "
            "history = history || jsonb_build_array(jsonb_build_object('at', now(), 'error', %s::text)) where id = %s"
        ).format(state_table("dead_letter")),
        (error, error, letter_id),
    )
