"""The rollback drill, end to end on staging: what the seed's team did by hand before go-live.

For one Postgres-authoritative entity: serve it from Postgres (``postgres_primary``, audited as a drill), write a
probe row as the app would (its primary field says it is a drill), roll back (the outbox pushes the probe before
the flag flips), check that Airtable holds the probe, delete the probe row (the outbox deletes it in Airtable),
check that Airtable no longer has it, and put the flag back as it was. Every step is timed; a failed step stops
the drill with the flag put back, and says which step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from airtable_pg.airtable.api_pool import read_records
from airtable_pg.postgres import drill_rows
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing.flags import POSTGRES_PRIMARY, BackendFlags, entity_key
from airtable_pg.routing.rollback import rollback
from airtable_pg.spec import BaseSpec, TableSpec
from airtable_pg.sync.outbound import OutboundPusher


class DrillFailed(RuntimeError):
    """A step of the drill did not do what it must; the flag was put back."""


@dataclass
class DrillReport:
    entity: str
    steps: list[tuple[str, float]] = field(default_factory=list)  # (what, seconds)

    def step(self, what: str, started: float) -> None:
        self.steps.append((what, time.monotonic() - started))


def drill(flags: BackendFlags, pusher: OutboundPusher, name: str, *, actor: str | None = None) -> DrillReport:
    base, table = flags.entity(name)
    entity = entity_key(base, table)
    if not table.is_postgres_authoritative:
        raise DrillFailed(f"{entity} is Airtable-authoritative: its rollback is a flag flip, nothing to drill")
    primary = table.fields.get(table.primary_field or "")
    if primary is None or primary.pg_type != "text" or primary.is_computed:
        raise DrillFailed(f"{entity}: the drill writes its probe into the primary field, which must be a text field")
    report = DrillReport(entity)
    original = flags.flag(name)
    started = time.monotonic()
    flags.set(name, POSTGRES_PRIMARY, reason="drill: serve from Postgres", actor=actor, source="drill", force=True)
    report.step("flag → postgres_primary", started)
    try:
        _run(flags, pusher, base, table, primary.column, report, actor)
    finally:
        started = time.monotonic()
        if flags.flag(name).stored != original.stored:
            flags.set(name, original.stored, reason="drill: flag put back", actor=actor, source="drill", force=True)
        report.step(f"flag put back → {original.stored}", started)
    return report


def _run(
    flags: BackendFlags,
    pusher: OutboundPusher,
    base: BaseSpec,
    table: TableSpec,
    column: str,
    report: DrillReport,
    actor: str | None,
) -> None:
    name = entity_key(base, table)
    probe = f"airtable-pg drill {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC (safe to delete)"
    started = time.monotonic()
    with transaction(flags.db) as cur:
        row_id = drill_rows.insert_probe(cur, base, table, column, probe)
    report.step("probe row written to Postgres", started)
    started = time.monotonic()
    done = rollback(flags, pusher, name, reason="drill", actor=actor)
    if done.pending_after:
        raise DrillFailed(f"{name}: {done.pending_after} change(s) still unpushed after the rollback")
    report.step(f"rollback (pushed {done.pushed_before} first)", started)
    started = time.monotonic()
    with transaction(flags.db) as cur:
        airtable_id = drill_rows.probe_airtable_id(cur, base, table, row_id)
    if airtable_id is None or not read_records(pusher.api, base.id, table.id, [airtable_id]):
        raise DrillFailed(f"{name}: the probe row is not in Airtable after the rollback")
    report.step(f"probe found in Airtable ({airtable_id})", started)
    started = time.monotonic()
    with transaction(flags.db) as cur:
        drill_rows.delete_probe(cur, base, table, row_id)
    pusher.push_base(base)
    if read_records(pusher.api, base.id, table.id, [airtable_id]):
        raise DrillFailed(f"{name}: the probe {airtable_id} is still in Airtable after its row was deleted")
    report.step("probe deleted in Postgres and gone from Airtable", started)
