"""The cutover of one entity to ``postgres_primary``: refused, in one line naming the gate, unless every blocking
gate's latest result passed (and is fresh: ``airtable-pg cutover status``) and the shadow reads compared enough
reads with few enough mismatches (``shadow_reads``)."""

from __future__ import annotations

from datetime import UTC, datetime

from airtable_pg.checks.cutover import cutover_status
from airtable_pg.postgres.check_results import latest_results
from airtable_pg.routing.flags import POSTGRES_PRIMARY, BackendFlags, EntityFlag, entity_key
from airtable_pg.routing.shadow import ShadowPolicy, shadow_reads


class CutoverRefused(RuntimeError):
    """Nothing was flipped: the message names the gate and what it said."""


def cut_over(
    flags: BackendFlags, name: str, *, reason: str, actor: str | None = None, policy: ShadowPolicy | None = None
) -> tuple[str, EntityFlag]:
    """Check the entity's gates, then flip it to ``postgres_primary``; returns the mode it replaced and the flag."""
    base, table = flags.entity(name)
    entity = entity_key(base, table)
    [status] = [s for s in cutover_status(flags.spec, latest_results(flags.db), datetime.now(UTC)) if s.table == entity]
    for gate in status.gates:
        if gate.holds_back:
            raise CutoverRefused(f"{entity}: gate {gate.check} {gate.state}: {gate.reason}; nothing flipped")
    shadow = shadow_reads(flags.db, base, table, policy)
    if not shadow.passed:
        raise CutoverRefused(f"{entity}: gate shadow_reads failed: {shadow.reason}; nothing flipped")
    return flags.set(name, POSTGRES_PRIMARY, reason=reason, actor=actor, source="cutover", gated=True)
