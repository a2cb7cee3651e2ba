"""Reconciliation: does the mirror hold what Airtable holds — every record (counts), and every cell (a sample)?

Both read Airtable through the shared rate limiter and report the requests they used. Counts list every
record id once (the primary field only, 100 a page: ``records / 100`` requests); the sample reads its
records by id, 50 a request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import Cursor, sql

from airtable_pg.airtable.api_pool import ApiPool
from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.checks.context import CheckContext, mirror, table_name
from airtable_pg.checks.result import MAX_LISTED, CheckResult, first, plural
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, TableSpec

DEFAULT_SAMPLE_SIZE = 50
DEFAULT_SEED = 20261201
IDS_PER_REQUEST = 50  # OR(RECORD_ID()='…', …) of 50 ids keeps the URL far below Airtable's 16k limit
Part = sql.Composable
LIVE = sql.SQL("deleted_at is null and airtable_id is not null")


# -- counts -------------------------------------------------------------------------------------------


def reconcile_counts(ctx: CheckContext, base: BaseSpec, table: TableSpec) -> CheckResult:
    pool = ctx.api_pool()
    try:
        in_airtable = set(_airtable_ids(pool, base, table))
    finally:
        pool.close()
    with transaction(ctx.db) as cur:
        cur.execute(sql.SQL("select airtable_id from {} where {}").format(mirror(base, table), LIVE))
        in_postgres = {row[0] for row in cur}
        cur.execute(
            sql.SQL("select count(*) from {} where deleted_at is null and airtable_id is null").format(
                mirror(base, table)
            )
        )
        unpushed = cur.fetchone()[0]
    missing_in_postgres = sorted(in_airtable - in_postgres)
    missing_in_airtable = sorted(in_postgres - in_airtable)
    passed = not missing_in_postgres and not missing_in_airtable and not unpushed
    if passed:
        reason = f"{len(in_airtable)} live records in Airtable, {len(in_postgres)} live rows in Postgres: same ids"
    else:
        parts = []
        if missing_in_postgres:
            parts.append(f"{len(missing_in_postgres)} missing in Postgres (first {missing_in_postgres[0]})")
        if missing_in_airtable:
            gone = f"{len(missing_in_airtable)} live in Postgres but not in Airtable"
            parts.append(f"{gone} (first {missing_in_airtable[0]})")
        if unpushed:
            parts.append(f"{plural(unpushed, 'live row')} without an Airtable id (outbound pending)")
        reason = f"Airtable {len(in_airtable)} vs Postgres {len(in_postgres) + unpushed}: " + "; ".join(parts)
    return CheckResult(
        table=table_name(base, table),
        check="reconcile_counts",
        passed=passed,
        severity="error",
        reason=reason,
        failing_ids=first(missing_in_postgres + missing_in_airtable),
        details={
            "airtable_count": len(in_airtable),
            "postgres_count": len(in_postgres) + unpushed,
            "missing_in_postgres": first(missing_in_postgres),
            "missing_in_airtable": first(missing_in_airtable),
            "missing_in_postgres_total": len(missing_in_postgres),
            "missing_in_airtable_total": len(missing_in_airtable),
            "without_airtable_id": unpushed,
        },
        requests=pool.stats.requests,
    )


def _airtable_ids(pool: ApiPool, base: BaseSpec, table: TableSpec) -> Iterator[str]:
    # One small field per record keeps pages light; the id is all this check needs.
    fields = [table.primary_field] if table.primary_field else None
    for page in pool.iterate(base.id, table.id, fields=fields):
        for record in page:
            yield record["id"]


# -- sampled records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    record: str
    field: str | None  # field id; None when the whole record is at fault
    column: str | None
    airtable: Any
    column_value: Any
    fields_value: Any
    problem: str

    def as_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "field": self.field,
            "column": self.column,
            "problem": self.problem,
            "airtable": _shown(self.airtable),
            "column_value": _shown(self.column_value),
            "fields_value": _shown(self.fields_value),
        }

    def line(self) -> str:
        where = f"{self.record} {self.column} ({self.field})" if self.field else self.record
        if self.field is None:
            return f"{where}: {self.problem}"
        return (
            f"{where}: {self.problem}: Airtable {_shown(self.airtable)}, column {_shown(self.column_value)}, "
            f"fields {_shown(self.fields_value)}"
        )


def reconcile_sample(
    ctx: CheckContext,
    base: BaseSpec,
    table: TableSpec,
    *,
    size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = DEFAULT_SEED,
) -> CheckResult:
    with transaction(ctx.db) as cur:
        strata = sample_ids(cur, base, table, size=size, seed=seed)
        ids = list(dict.fromkeys(i for chosen in strata.values() for i in chosen))
        rows = _rows(cur, base, table, ids)
    pool = ctx.api_pool()
    try:
        records = {r["id"]: r for r in _records_by_id(pool, base, table, ids)}
    finally:
        pool.close()
    converter = RecordConverter(table)
    mismatches = [
        m for record_id in ids for m in _compare(converter, table, record_id, records.get(record_id), rows[record_id])
    ]
    bad_records = list(dict.fromkeys(m.record for m in mismatches))
    if mismatches:
        reason = (
            f"{len(bad_records)} of {len(ids)} sampled records differ ({plural(len(mismatches), 'cell')}); "
            f"first: {mismatches[0].line()}"
        )
    else:
        reason = f"{len(ids)} sampled records equal cell by cell (Airtable = typed column = fields jsonb)"
    return CheckResult(
        table=table_name(base, table),
        check="reconcile_sample",
        passed=not mismatches,
        severity="error",
        reason=reason,
        failing_ids=first(bad_records),
        details={
            "sampled": len(ids),
            "strata": {name: len(chosen) for name, chosen in strata.items()},
            "seed": seed,
            "mismatches": [m.as_json() for m in first(mismatches)],
            "mismatch_total": len(mismatches),
        },
        requests=pool.stats.requests,
    )


def sample_ids(cur: Cursor, base: BaseSpec, table: TableSpec, *, size: int, seed: int) -> dict[str, list[str]]:
    """Live record ids: ``random`` (seeded) plus one per created day and one per linked parent (user, program…),
    each stratum at most ``size``. The same seed and data give the same sample."""
    shuffle = sql.SQL("md5(m.airtable_id || {})").format(sql.Literal(str(seed)))
    where = sql.SQL("m.deleted_at is null and m.airtable_id is not null")
    queries = {
        "random": sql.SQL("select m.airtable_id from {} m where {} order by {} limit %s").format(
            mirror(base, table), where, shuffle
        ),
        "created_day": _one_per_stratum(
            source=mirror(base, table),
            stratum=sql.SQL("date_trunc('day', m.airtable_created_time)"),
            join=sql.SQL(""),
            where=where,
            shuffle=shuffle,
        ),
    }
    for link in table.link_fields:
        if not link.lineage:  # a child's reference to its parent (a goal's user, its program) makes a stratum
            continue
        join = sql.SQL("join {} j on j.airtable_id = m.airtable_id and j.position = 0").format(
            sql.Identifier(base.schema, table.join_table(link))
        )
        queries[f"by_{link.column}"] = _one_per_stratum(
            source=mirror(base, table), stratum=sql.SQL("j.linked_airtable_id"), join=join, where=where, shuffle=shuffle
        )
    strata: dict[str, list[str]] = {}
    for name, query in queries.items():
        cur.execute(query, (size,))
        strata[name] = [row[0] for row in cur]
    return strata


def _one_per_stratum(*, source: Part, stratum: Part, join: Part, where: Part, shuffle: Part) -> sql.Composed:
    return sql.SQL(
        "select airtable_id from (select distinct on ({stratum}) m.airtable_id, {shuffle} as h from {source} m {join} "
        "where {where} order by {stratum}, h) s order by h limit %s"
    ).format(stratum=stratum, shuffle=shuffle, source=source, join=join, where=where)


def _rows(cur: Cursor, base: BaseSpec, table: TableSpec, ids: list[str]) -> dict[str, dict[str, Any]]:
    cur.execute(sql.SQL("select * from {} where airtable_id = any(%s)").format(mirror(base, table)), (ids,))
    names = [d.name for d in cur.description or ()]
    return {row["airtable_id"]: row for row in (dict(zip(names, values, strict=True)) for values in cur)}


def _records_by_id(pool: ApiPool, base: BaseSpec, table: TableSpec, ids: list[str]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(ids), IDS_PER_REQUEST):
        batch = ids[start : start + IDS_PER_REQUEST]
        formula = "OR(" + ",".join(f"RECORD_ID()='{record_id}'" for record_id in batch) + ")"
        for page in pool.iterate(base.id, table.id, formula=formula):
            yield from page


def _compare(
    converter: RecordConverter, table: TableSpec, record_id: str, record: dict[str, Any] | None, row: dict[str, Any]
) -> Iterable[Mismatch]:
    if record is None:
        yield Mismatch(record_id, None, None, None, None, None, "live in Postgres, gone from Airtable")
        return
    expected, _ = converter.row(record)
    cells: dict[str, Any] = record.get("fields") or {}
    stored: dict[str, Any] = row.get("fields") or {}
    for f in table.fields.values():
        airtable, in_fields, in_column = cells.get(f.id), stored.get(f.id), row.get(f.column)
        if in_fields != airtable:
            problem = "fields jsonb differs from Airtable"
        elif in_column != expected.columns[f.column]:
            problem = "typed column differs from Airtable"
        else:
            continue
        yield Mismatch(record_id, f.id, f.column, airtable, in_column, in_fields, problem)
    for field_id in sorted((set(cells) | set(stored)) - set(table.fields)):  # cells of fields not in the spec
        if cells.get(field_id) != stored.get(field_id):
            yield Mismatch(
                record_id, field_id, None, cells.get(field_id), None, stored.get(field_id), "fields jsonb differs"
            )


def _shown(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["MAX_LISTED", "reconcile_counts", "reconcile_sample", "sample_ids"]
