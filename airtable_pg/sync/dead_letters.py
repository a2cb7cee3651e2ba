"""Replay and discard dead letters, inbound and outbound alike.

* Replaying an **inbound** letter re-applies its webhook payload through the applier's own path
  (``WebhookApplier._apply_payload``) in one transaction with closing the letter: a payload that still fails
  leaves the letter open (its attempts and history grow) and changes nothing.
* Replaying an **outbound** letter puts its outbox item back in the queue with fresh attempts; the pusher sends
  the row's *current* state (so a fix made in Postgres is what goes) and upserts on the idempotency key. The letter
  stays open until that push is delivered (then it closes as ``replayed``); a push that fails again adds an attempt
  and the new error to the same letter, never a second letter for the same change.

Only open letters are replayed or discarded. Discarding keeps the letter (status, reason, moment) as the audit
trail; an outbound item is then considered settled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg import Cursor, sql
from pyairtable import Api

from airtable_pg.postgres import dead_letters, outbox
from airtable_pg.postgres.sync_state import state_table
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import SyncSpec
from airtable_pg.sync.table_sync import describe_error
from airtable_pg.sync.webhook_applier import ApplyReport, WebhookApplier

log = logging.getLogger(__name__)


class DeadLetterError(ValueError):
    """A letter that cannot be replayed or discarded as asked (unknown id, its base not in the spec)."""


@dataclass
class ReplayOutcome:
    replayed: list[int] = field(default_factory=list)  # inbound: applied, closed
    requeued: list[int] = field(default_factory=list)  # outbound: back in the outbox, open until delivered
    skipped: list[int] = field(default_factory=list)  # closed already (replayed or discarded before)
    failed: dict[int, str] = field(default_factory=dict)  # still failing: the letter stays open


def replay(spec: SyncSpec, db: sa.Engine, api: Api | None, letter_ids: Iterable[int]) -> ReplayOutcome:
    """Replay these open letters, each in its own transaction; letters already closed are skipped."""
    outcome = ReplayOutcome()
    applier = WebhookApplier(spec, db, api) if api is not None else None
    for letter_id in letter_ids:
        with transaction(db) as cur:
            letter = dead_letters.get(cur, letter_id, lock=True)
            if letter is None:
                raise DeadLetterError(f"no dead letter {letter_id}")
            if letter.status != "open":
                outcome.skipped.append(letter_id)
                continue
            if letter.direction == "outbound":
                if outbox.requeue(cur, int(letter.payload["outbox_id"])):
                    dead_letters.note_replay(cur, letter_id, "re-queued for a push")
                    outcome.requeued.append(letter_id)
                    continue
                error: str | None = "its outbox item is gone"
            else:
                error = _reapply(spec, applier, cur, letter)
            if error is None:
                dead_letters.resolve(cur, letter_id, "replayed", None)
                outcome.replayed.append(letter_id)
            else:
                dead_letters.note_failed_replay(cur, letter_id, error)
                outcome.failed[letter_id] = error
    return outcome


def still_open(db: sa.Engine, letter_ids: Iterable[int]) -> dict[int, dead_letters.DeadLetter]:
    """Which of these letters are still open (after a replay's push: the ones Airtable did not take)."""
    with transaction(db) as cur:
        found = {letter_id: dead_letters.get(cur, letter_id) for letter_id in letter_ids}
    return {letter_id: letter for letter_id, letter in found.items() if letter is not None and letter.status == "open"}


def _reapply(
    spec: SyncSpec, applier: WebhookApplier | None, cur: Cursor, letter: dead_letters.DeadLetter
) -> str | None:
    """Apply an inbound letter's payload under a savepoint; the error if it still fails (then nothing changed)."""
    base = next((b for b in spec.bases.values() if b.id == letter.base_id), None)
    if base is None:
        return f"base {letter.base_id} is not in the spec"
    if applier is None:
        return "an inbound letter needs Airtable to replay (AIRTABLE_API_KEY)"
    cur.execute("savepoint airtable_pg_replay")
    try:
        applier._apply_payload(cur, base, letter.payload, ApplyReport(base.key))
    except Exception as error:  # noqa: BLE001 - a payload that still fails stays a dead letter
        cur.execute("rollback to savepoint airtable_pg_replay")
        return describe_error(error)
    cur.execute("release savepoint airtable_pg_replay")
    return None


def discard(db: sa.Engine, letter_id: int, reason: str) -> bool:
    """Close an open letter without applying it; False when it was closed already."""
    if not reason.strip():
        raise DeadLetterError("a discard needs a reason (it is the audit trail)")
    with transaction(db) as cur:
        letter = dead_letters.get(cur, letter_id, lock=True)
        if letter is None:
            raise DeadLetterError(f"no dead letter {letter_id}")
        if letter.status != "open":
            return False
        if letter.direction == "outbound":
            cur.execute(
                sql.SQL("update {} set status = 'done', last_error = %s where id = %s and status = 'dead'").format(
                    state_table("outbox")
                ),
                (f"discarded: {reason}", int(letter.payload["outbox_id"])),
            )
        dead_letters.resolve(cur, letter_id, "discarded", reason)
    return True
