"""Safe rollback of one entity to ``airtable``: first every change the app wrote to Postgres is in Airtable.

For a Postgres-authoritative entity the app writes the mirror and the outbox pushes to Airtable. Before its reads
go back to Airtable, Airtable must hold every one of those writes, or the app would read its own writes back as
missing. So: push the entity's outbox here (beside any running pusher: items are leased, never pushed twice) until
nothing of it is pending, refuse while some of its changes are dead letters (they are not in Airtable), flip the
flag, then push once more what the app wrote while the flag flipped. The outbox trigger stays armed throughout: a
write made at any moment is captured and pushed, so nothing written in either direction is lost.

An Airtable-authoritative entity has nothing to push: its flag flips at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from airtable_pg.postgres import outbox
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing.flags import AIRTABLE, BackendFlags, entity_key
from airtable_pg.spec import BaseSpec, TableSpec
from airtable_pg.sync.outbound import OutboundPusher


class RollbackRefused(RuntimeError):
    """Nothing was flipped: the message says why and what to do."""


class StillPending(RuntimeError):
    def __init__(self, pending: int) -> None:
        super().__init__(f"{pending} change(s) still unpushed (waiting for a retry or for Airtable)")
        self.pending = pending


@dataclass
class RollbackReport:
    entity: str
    previous_mode: str
    pushed_before: int = 0
    pushed_after: int = 0
    pending_after: int = 0
    seconds: float = 0.0
    accepted_dead_letters: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Backlog:
    pending: int
    dead: int


def backlog(db: sa.Engine, base: BaseSpec, table: TableSpec) -> Backlog:
    with transaction(db) as cur:
        depth = next((d for d in outbox.depth(cur) if (d.base_id, d.table_id) == (base.id, table.id)), None)
    return Backlog(depth.pending, depth.dead) if depth else Backlog(0, 0)


def rollback(
    flags: BackendFlags,
    pusher: OutboundPusher,
    name: str,
    *,
    reason: str,
    timeout_seconds: float = 600.0,
    accept_dead_letters: bool = False,
    actor: str | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[str], None] = lambda line: None,
) -> RollbackReport:
    base, table = flags.entity(name)
    started = time.monotonic()
    report = RollbackReport(entity_key(base, table), flags.flag(name).stored)
    stop = stop or threading.Event()
    if table.is_postgres_authoritative:
        pusher.ensure_key_fields()  # as `outbound run` does: pushes need the idempotency-key field in Airtable
        try:
            report.pushed_before = _drain(flags.db, pusher, base, table, started + timeout_seconds, stop, on_progress)
        except StillPending as pending:
            raise RollbackRefused(
                f"{report.entity}: {pending} after {timeout_seconds:.0f} s; nothing flipped: run again later, or see "
                "`airtable-pg outbound status`"
            ) from None
        dead = backlog(flags.db, base, table).dead
        if dead and not accept_dead_letters:
            raise RollbackRefused(
                f"{report.entity}: {dead} change(s) are dead letters, not in Airtable; replay them "
                "(`airtable-pg dlq list`, `dlq replay`) or roll back with --accept-dead-letters; nothing flipped"
            )
        report.accepted_dead_letters = dead
    why = reason if not report.accepted_dead_letters else f"{reason} (accepted {report.accepted_dead_letters} dead)"
    flags.set(name, AIRTABLE, reason=f"rollback: {why}", actor=actor, source="rollback")
    if table.is_postgres_authoritative:  # what the app wrote while the flag flipped
        deadline = time.monotonic() + timeout_seconds
        try:
            report.pushed_after = _drain(flags.db, pusher, base, table, deadline, stop, on_progress)
        except StillPending as late:
            report.notes.append(f"{late}, written while the flag flipped: the outbox keeps pushing them")
        report.pending_after = backlog(flags.db, base, table).pending
    report.seconds = time.monotonic() - started
    return report


def _drain(
    db: sa.Engine,
    pusher: OutboundPusher,
    base: BaseSpec,
    table: TableSpec,
    deadline: float,
    stop: threading.Event,
    on_progress: Callable[[str], None],
) -> int:
    """Push until none of the table's changes is pending; StillPending at the deadline."""
    pushed = 0
    while True:
        pushed += pusher.push_base(base).pushed
        left = backlog(db, base, table)
        if left.pending == 0:
            return pushed
        remaining = deadline - time.monotonic()
        if remaining <= 0 or stop.is_set():
            raise StillPending(left.pending)
        on_progress(f"{left.pending} change(s) of {base.key}.{table.key} waiting to be pushed")
        stop.wait(min(1.0, remaining))  # retries fall due on their own schedule
