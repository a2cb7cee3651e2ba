"""The gates of a change recorded outside a Dagster run: cheap ones evaluated at once, costly ones carried forward.

A Dagster run evaluates a table's gates beside its materialization. A change recorded without a run (the webhook
applier, ``airtable-pg sync``, ``airtable-pg dev``'s first import) has no run to do that, and Dagster would show
the table's gates "Not Evaluated" until the next run. So each such change is followed at once by a verdict for
every gate:

* ``freshness`` and ``links`` read Postgres only and take milliseconds: evaluated now, for this very change.
* The others cost Airtable requests (``reconcile_counts`` reads every record id, ``reconcile_sample`` and
  ``schema_drift`` read records and metadata) or scan the whole table (``quality``). Their latest stored result
  is carried forward, saying when it was evaluated; full syncs, poll runs, the nightly ``cutover_gates`` job and
  ``airtable-pg checks run`` evaluate them. A gate never evaluated is evaluated now: there is nothing to carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from airtable_pg.checks.context import CheckContext
from airtable_pg.checks.result import CheckResult
from airtable_pg.checks.runner import CHECKS, run_checks
from airtable_pg.postgres.check_results import StoredResult, latest_results, store_results
from airtable_pg.spec import BaseSpec, TableSpec

EVALUATED_WITH_EVERY_CHANGE = ("freshness", "links")


@dataclass(frozen=True)
class GateVerdicts:
    """One verdict per gate: evaluated now, or the latest stored one carried forward."""

    evaluated: list[CheckResult]
    carried: list[StoredResult]


def gates_after_change(ctx: CheckContext, base: BaseSpec, table: TableSpec) -> GateVerdicts:
    stored = {r.check: r for r in latest_results(ctx.db, base_id=base.id, table_id=table.id)}
    now = [name for name in CHECKS if name in EVALUATED_WITH_EVERY_CHANGE or name not in stored]
    evaluated = run_checks(ctx, [(base, table)], now)
    store_results(ctx.db, [(base.id, table.id, result.as_json()) for result in evaluated])
    return GateVerdicts(evaluated, [stored[name] for name in CHECKS if name not in now])
