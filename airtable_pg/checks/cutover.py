"""Is an entity ready to move to Postgres? Every gate's latest stored result, as one verdict per table.

Ready means: every gate has a result, none older than :data:`MAX_RESULT_AGE` (the nightly reconciliation plus
slack), and none failed with severity ``error``. A warning (a select option Airtable no longer lists, a date
far in the future) is shown but does not hold cutover back. A gate that never ran is not a pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from airtable_pg.checks.runner import CHECKS
from airtable_pg.postgres.check_results import StoredResult
from airtable_pg.spec import SyncSpec

MAX_RESULT_AGE = timedelta(hours=26)


@dataclass(frozen=True)
class GateStatus:
    check: str
    state: str  # passed | warning | failed | stale | never run
    reason: str
    checked_at: datetime | None

    @property
    def holds_back(self) -> bool:
        return self.state in {"failed", "stale", "never run"}


@dataclass(frozen=True)
class EntityStatus:
    table: str
    gates: list[GateStatus]

    @property
    def ready(self) -> bool:
        return not any(g.holds_back for g in self.gates)


def cutover_status(spec: SyncSpec, stored: Iterable[StoredResult], now: datetime) -> list[EntityStatus]:
    by_key = {(r.base_id, r.table_id, r.check): r for r in stored}
    entities = []
    for base, table in spec.tables():
        gates = []
        for check in CHECKS:
            result = by_key.get((base.id, table.id, check))
            gates.append(_gate(check, result, now))
        entities.append(EntityStatus(f"{base.key}.{table.key}", gates))
    return entities


def _gate(check: str, result: StoredResult | None, now: datetime) -> GateStatus:
    if result is None:
        return GateStatus(check, "never run", "no stored result: run `airtable-pg checks run`", None)
    if now - result.checked_at > MAX_RESULT_AGE:
        age = (now - result.checked_at).total_seconds() / 3600
        return GateStatus(check, "stale", f"last ran {age:.0f} h ago: {result.reason}", result.checked_at)
    state = "passed" if result.passed else "warning" if result.severity == "warn" else "failed"
    return GateStatus(check, state, result.reason, result.checked_at)
