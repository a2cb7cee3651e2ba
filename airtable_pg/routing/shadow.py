"""Shadow reads: in ``shadow`` the caller serves Airtable's answer and hands both answers here, off its request path.

``ShadowReads.compare`` runs the comparison (``shadow_compare``), and for the records that differ asks the caller to
read both sides again after ``recheck_seconds``, and for those that still differ once more after twice that (a
change applied on one side moments ago is not a mismatch, nor is a sync a few seconds behind). What still differs is
a mismatch unless Postgres knows it is in flight (a change applied in the last seconds, a change of
the app not yet pushed, a notification not yet applied). Counts go per entity and minute to ``shadow_stat``, and
each surviving mismatch (both values; never a token) to ``shadow_mismatch``.

``shadow_reads`` judges an entity for the cutover: at least ``min_compared`` reads compared in the window, and a
mismatch rate no higher than ``max_mismatch_rate``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from airtable_pg.checks.result import CheckResult
from airtable_pg.postgres import shadow_reads as store
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing.flags import entity_key
from airtable_pg.routing.shadow_compare import compare_records, fields_by_key
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec

log = logging.getLogger(__name__)

Records = Sequence[Mapping[str, Any]]
# Both sides again, for these record ids: (Airtable's records, the mirror's records).
Refetch = Callable[[list[str]], tuple[Records, Records]]


@dataclass(frozen=True)
class ShadowOutcome:
    entity: str
    compared_records: int
    mismatches: int  # field or record differences that survived the re-check and are not in flight
    in_flight: int  # differences set aside: the record changed moments ago on one side


@dataclass(frozen=True)
class ShadowPolicy:
    recheck_seconds: float = 2.0  # wait before reading both sides again
    # Re-checks of the records that still differ, each after twice the previous wait (2 s, then 4 s): a sync that
    # lags a few seconds behind an edit Airtable holds still is not a mismatch; one behind by more is judged.
    rechecks: int = 2
    in_flight_seconds: float = 10.0  # a change applied this recently is in flight
    window: timedelta = timedelta(hours=24)
    min_compared: int = 100
    max_mismatch_rate: float = 0.001


class ShadowReads:
    def __init__(self, db: sa.Engine, spec: SyncSpec, policy: ShadowPolicy | None = None) -> None:
        self.db, self.spec, self.policy = db, spec, policy or ShadowPolicy()
        self._closing = threading.Event()

    def close(self) -> None:
        """Comparisons waiting for their re-check stop at once (a server shutting down does not wait for them)."""
        self._closing.set()

    def count_skipped(self, skipped: dict[str, int]) -> None:
        """Reads served without a comparison, per entity (the caller's comparison queue was full)."""
        with transaction(self.db) as cur:
            for entity, n in skipped.items():
                store.count(cur, entity, compared=0, mismatched=0, in_flight=0, errors=0, skipped=n)

    def compare(
        self,
        base: BaseSpec,
        table: TableSpec,
        request: str,
        airtable: Records,
        postgres: Records,
        *,
        ordered: bool,
        refetch: Refetch | None = None,
    ) -> ShadowOutcome:
        """Compare one read's two answers; record the tally and the mismatches. Never raises into the caller."""
        entity = entity_key(base, table)
        try:
            return self._compare(base, table, entity, request, airtable, postgres, ordered, refetch)
        except Exception as error:  # noqa: BLE001 - a shadow read must never break the read it shadows
            log.warning("shadow read of %s failed: %s", entity, error)
            with transaction(self.db) as cur:
                store.count(cur, entity, compared=0, mismatched=0, in_flight=0, errors=1)
            return ShadowOutcome(entity, 0, 0, 0)

    def _compare(
        self,
        base: BaseSpec,
        table: TableSpec,
        entity: str,
        request: str,
        airtable: Records,
        postgres: Records,
        ordered: bool,
        refetch: Refetch | None,
    ) -> ShadowOutcome:
        first = compare_records(table, airtable, postgres, ordered=ordered)
        result = first
        edited_meanwhile: set[str] = set()
        seen_in_airtable: Records = airtable
        wait = self.policy.recheck_seconds
        for _ in range(self.policy.rechecks if refetch is not None else 0):
            ids = sorted(set(result.record_ids()) - edited_meanwhile)
            if not ids:
                break
            if self._closing.wait(wait):
                return ShadowOutcome(entity, first.records, 0, 0)  # shutting down: nothing judged
            again_airtable, again_postgres = refetch(ids)
            result = compare_records(table, again_airtable, again_postgres, ordered=False)
            # A record whose Airtable answer changed between the read and the re-check is being edited: the mirror
            # follows it (webhook, poll) and cannot be judged against a moving target: a user renamed every 1.6 s,
            # the mirror following 2 s behind, would otherwise be flagged at every re-check.
            wanted = set(ids)
            earlier = [r for r in seen_in_airtable if r.get("id") in wanted]
            edited_meanwhile |= _edited_meanwhile(table, earlier, again_airtable)
            seen_in_airtable = again_airtable
            wait *= 2  # a mirror still behind a record Airtable holds still gets longer to follow, then is judged
        with transaction(self.db) as cur:
            moving = store.in_flight(cur, base.id, table.id, result.record_ids(), self.policy.in_flight_seconds)
            moving |= edited_meanwhile
            kept = [m for m in result.mismatches if m.record_id not in moving]
            # Differed at first, but not on the re-check or changed moments ago: in flight, not wrong.
            set_aside = set(first.record_ids()) - {m.record_id for m in kept}
            store.count(cur, entity, compared=1, mismatched=1 if kept else 0, in_flight=1 if set_aside else 0,
                        errors=0)  # fmt: skip
            if kept:
                rows = [(m.record_id, m.field_id, m.airtable, m.postgres) for m in kept]
                store.keep_mismatches(cur, entity, request, rows)
        return ShadowOutcome(entity, first.records, len(kept), len(set_aside))


def _edited_meanwhile(table: TableSpec, earlier: Records, again: Records) -> set[str]:
    """Records whose Airtable cells differ between two answers: the read's (keyed as its request asked: names or
    ids, perhaps a ``fields[]`` subset) and the re-check's (every cell, by field id). Compared by field id, on the
    fields the read's answer carried."""
    by_key = fields_by_key(table)

    def by_id(record: Mapping[str, Any], keep: set[str] | None) -> dict[str, Any]:
        cells = {(by_key[k].id if k in by_key else k): v for k, v in (record.get("fields") or {}).items()}
        return {"id": record.get("id"), "fields": {k: v for k, v in cells.items() if keep is None or k in keep}}

    first = [by_id(r, None) for r in earlier]
    carried = {field_id for r in first for field_id in r["fields"]}
    return set(compare_records(table, first, [by_id(r, carried) for r in again], ordered=False).record_ids())


def shadow_reads(db: sa.Engine, base: BaseSpec, table: TableSpec, policy: ShadowPolicy | None = None) -> CheckResult:
    """The cutover's shadow gate for one entity."""
    policy = policy or ShadowPolicy()
    entity = entity_key(base, table)
    with transaction(db) as cur:
        found = store.tally(cur, entity, policy.window).get(entity, store.ShadowTally(0, 0, 0, 0))
        fields = store.top_fields(cur, entity, policy.window, 5)
    hours = policy.window.total_seconds() / 3600
    if found.compared < policy.min_compared:
        passed, reason = False, (
            f"{found.compared} read(s) compared in the last {hours:g} h, fewer than {policy.min_compared}: "
            f"serve it in shadow longer (airtable-pg flags set {entity} shadow)"
        )
    elif found.mismatch_rate > policy.max_mismatch_rate:
        passed, reason = False, (
            f"{found.mismatched} of {found.compared} compared reads differed ({found.mismatch_rate:.2%} > "
            f"{policy.max_mismatch_rate:.2%}); see airtable-pg shadow report {entity}"
        )
    else:
        passed, reason = True, (
            f"{found.compared} reads compared in the last {hours:g} h, {found.mismatched} differed "
            f"({found.mismatch_rate:.2%} ≤ {policy.max_mismatch_rate:.2%}); {found.in_flight} set aside as in flight"
        )
    return CheckResult(
        table=entity,
        check="shadow_reads",
        passed=passed,
        severity="error",
        reason=reason,
        failing_ids=[],
        details={
            "compared": found.compared,
            "mismatched": found.mismatched,
            "in_flight": found.in_flight,
            "errors": found.errors,
            "skipped": found.skipped,
            "top_fields": dict(fields),
        },
    )
