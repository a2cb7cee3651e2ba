"""Every check by name, and running a selection of them for a selection of tables.

A check that cannot run (Airtable unreachable, a table missing in Postgres, …) is a failed check with that
reason: a gate must never pass because it did not look.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from airtable_pg.checks.context import CheckContext, table_name
from airtable_pg.checks.drift import schema_drift
from airtable_pg.checks.freshness import freshness
from airtable_pg.checks.links import links
from airtable_pg.checks.quality import quality
from airtable_pg.checks.reconcile import reconcile_counts, reconcile_sample
from airtable_pg.checks.result import CheckResult
from airtable_pg.spec import BaseSpec, TableSpec

log = logging.getLogger(__name__)

Check = Callable[[CheckContext, BaseSpec, TableSpec], CheckResult]

CHECKS: dict[str, Check] = {
    "reconcile_counts": reconcile_counts,
    "reconcile_sample": reconcile_sample,
    "quality": quality,
    "links": links,
    "freshness": freshness,
    "schema_drift": schema_drift,
}

DESCRIPTIONS: dict[str, str] = {
    "reconcile_counts": "Live records in Airtable = live rows in Postgres, per table (the ids missing on each side, "
    "first 20). Reads every record id from Airtable: records / 100 requests.",
    "reconcile_sample": "A seeded random sample plus one record per created day and per linked parent (user, "
    "program…), compared cell by cell: Airtable's value vs the typed column vs the fields jsonb.",
    "quality": "pandera schema from the spec (types, nullability, select options) plus rules: valid e-mail, "
    "ratings within scale, unique/required fields; dates in a sane range and select options are warnings.",
    "links": "Every linked record id (link column and join table) points at a live row of the linked table, "
    "column and join table agree, and inverse link fields list each other.",
    "freshness": "The table's last applied change or successful sync is younger than its bound "
    "(spec freshness_seconds; default 120 s for the fast lane, else twice the poll interval).",
    "schema_drift": "Airtable's fields now (metadata API) vs the spec vs the mirror's columns: new, removed, renamed "
    "and retyped fields, with the remedy (spec pull, then db revision). Data of new fields is never lost "
    "meanwhile: every cell is kept in the fields jsonb.",
}


def run_check(ctx: CheckContext, name: str, base: BaseSpec, table: TableSpec) -> CheckResult:
    started = time.perf_counter()
    try:
        result = CHECKS[name](ctx, base, table)
    except Exception as error:  # noqa: BLE001 - a check that could not look has failed, with the reason
        log.warning("check %s of %s.%s could not run: %s", name, base.key, table.key, error)
        result = CheckResult(
            table_name(base, table), name, False, "error", f"could not run: {type(error).__name__}: {error}"
        )
    result.seconds = time.perf_counter() - started
    return result


def run_checks(
    ctx: CheckContext, tables: Iterable[tuple[BaseSpec, TableSpec]], names: Iterable[str] | None = None
) -> list[CheckResult]:
    chosen = list(names or CHECKS)
    unknown = [n for n in chosen if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)} (checks: {', '.join(CHECKS)})")
    return [run_check(ctx, name, base, table) for base, table in tables for name in chosen]
