"""Schema drift: Airtable's fields now (metadata API) vs the spec vs the mirror's columns in Postgres.

New, removed, renamed and retyped fields are named with the remedy: ``airtable-pg spec pull``, review the spec,
then ``airtable-pg db revision`` and ``db upgrade``. Meanwhile no data is lost: every cell, of a new field too,
is kept in the mirror's ``fields`` jsonb. A rename alone is a warning (columns are bound to field ids); anything
else fails the gate, since the typed columns no longer say what Airtable holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airtable_pg.airtable.computed_dependencies import Dependence, changes_with
from airtable_pg.airtable.types import result_type_of
from airtable_pg.checks.context import CheckContext, table_name
from airtable_pg.checks.result import CheckResult, first
from airtable_pg.mirror_model import FIXED_COLUMN_NAMES
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, TableSpec

# information_schema's udt_name of each spec pg_type
UDT_NAMES = {
    "text": "text", "bigint": "int8", "integer": "int4", "numeric": "numeric", "double precision": "float8",
    "boolean": "bool", "date": "date", "timestamptz": "timestamptz", "text[]": "_text", "jsonb": "jsonb",
}  # fmt: skip
PULL = "airtable-pg spec pull --base {base}"
MIGRATE = "airtable-pg db revision -m '…' && airtable-pg db upgrade"


@dataclass(frozen=True)
class Drift:
    kind: str  # new | removed | renamed | retyped | dependencies | column_missing | column_retyped | column_extra
    field: str | None  # field id
    message: str

    @property
    def only_a_rename(self) -> bool:
        return self.kind == "renamed"


def schema_drift(ctx: CheckContext, base: BaseSpec, table: TableSpec) -> CheckResult:
    pool = ctx.api_pool()
    try:
        airtable = ctx.airtable_fields(base, table, pool)
        dependencies = changes_with(ctx.airtable_tables(base, pool))  # answered from the same cached metadata
    finally:
        pool.close()
    with transaction(ctx.db) as cur:
        cur.execute(
            "select column_name, udt_name from information_schema.columns where table_schema = %s and table_name = %s",
            (base.schema, table.mirror),
        )
        columns = dict(cur.fetchall())
    drifts = airtable_vs_spec(table, airtable, dependencies) + spec_vs_database(table, columns)
    remedies = []
    if any(d.kind in {"new", "removed", "renamed", "retyped", "dependencies"} for d in drifts):
        remedies.append(PULL.format(base=base.id))
    if any(not d.only_a_rename and d.kind != "dependencies" for d in drifts):
        remedies.append(MIGRATE)
    if drifts:
        reason = f"{len(drifts)} difference(s); first: {drifts[0].message}; remedy: " + ", then ".join(remedies)
    else:
        reason = f"Airtable, the spec and {base.schema}.{table.mirror} agree on {len(table.fields)} fields"
    return CheckResult(
        table=table_name(base, table),
        check="schema_drift",
        passed=not drifts,
        severity="warn" if drifts and all(d.only_a_rename for d in drifts) else "error",
        reason=reason,
        failing_ids=first(list(dict.fromkeys(d.field for d in drifts if d.field))),
        details={
            "drift": [{"kind": d.kind, "field": d.field, "message": d.message} for d in first(drifts)],
            "drift_total": len(drifts),
            "remedy": remedies,
            "data_kept": "every cell, of new fields too, is kept in the fields jsonb until the spec catches up",
        },
        requests=pool.stats.requests,
    )


def airtable_vs_spec(
    table: TableSpec, airtable: dict[str, dict[str, Any]] | None, dependencies: Mapping[str, Dependence] | None = None
) -> list[Drift]:
    if airtable is None:
        return [Drift("removed", None, f"table {table.airtable_name!r} ({table.id}) is gone from Airtable")]
    drifts = []
    for field_id, raw in airtable.items():
        spec = table.fields.get(field_id)
        if spec is None and table.is_postgres_authoritative and raw["name"] == table.idempotency_field:
            continue  # airtable_pg's own idempotency key of outbound creates, not the app's data
        if spec is None:
            drifts.append(
                Drift("new", field_id, f"new field {raw['name']!r} ({field_id}, {raw['type']}) is not in the spec")
            )
            continue
        if raw["name"] != spec.name:
            drifts.append(
                Drift("renamed", field_id, f"field {field_id} renamed {spec.name!r} → {raw['name']!r} in Airtable")
            )
        result_type = result_type_of(raw["type"], raw.get("options"))
        if raw["type"] != spec.type or result_type != spec.result_type:
            was = spec.type + (f" ({spec.result_type})" if spec.result_type else "")
            now = raw["type"] + (f" ({result_type})" if result_type else "")
            drifts.append(Drift("retyped", field_id, f"field {spec.name!r} ({field_id}) retyped {was} → {now}"))
        elif spec.changes_with is not None and dependencies is not None:
            # A refresh is skipped on the spec's word: a formula that now reads NOW() or another table must say so.
            reads = dependencies.get(field_id)
            if reads != spec.changes_with:
                now_reads = "(not known)" if reads is None else sorted(reads)
                message = f"field {spec.name!r} ({field_id}) changes with {now_reads}, the spec says "
                drifts.append(Drift("dependencies", field_id, message + str(sorted(spec.changes_with))))
    for field_id, spec in table.fields.items():
        if field_id not in airtable:
            drifts.append(Drift("removed", field_id, f"field {spec.name!r} ({field_id}) is gone from Airtable"))
    return drifts


def spec_vs_database(table: TableSpec, columns: dict[str, str]) -> list[Drift]:
    if not columns:
        return [Drift("column_missing", None, f"mirror table {table.mirror!r} does not exist (migrations not run)")]
    drifts = []
    for f in table.fields.values():
        actual = columns.get(f.column)
        if actual is None:
            drifts.append(Drift("column_missing", f.id, f"column {f.column!r} ({f.id}) is not in the database"))
        elif actual != UDT_NAMES[f.pg_type]:
            drifts.append(
                Drift("column_retyped", f.id, f"column {f.column!r} ({f.id}) is {actual} in Postgres, spec {f.pg_type}")
            )
    spec_columns = {f.column for f in table.fields.values()} | FIXED_COLUMN_NAMES
    for name in sorted(set(columns) - spec_columns):
        drifts.append(Drift("column_extra", None, f"column {name!r} is in the database but not in the spec"))
    return drifts
