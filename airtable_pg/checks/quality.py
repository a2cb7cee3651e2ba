"""Data quality with pandera: a schema per table derived from the spec, plus the rules that matter by hand.

Derived from the spec (and Airtable's field options): each typed column holds values of its Postgres type's
Python type (``mirror_model.PG_TYPES``); a checkbox is never null; a single or multiple select holds only the
field's options. By hand: an ``email`` field holds valid e-mail addresses; a ``rating`` stays within its
scale; dates lie in a sane range (a warning); a field marked ``required`` in the spec is never empty and one
marked ``unique`` has no two live rows with the same value (case-insensitive; checked in SQL, across the
whole table).

Rows are streamed from Postgres through a server-side cursor and validated in chunks, so memory stays flat
however large the table. Failing rows are counted in full and listed up to :data:`MAX_LISTED`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from psycopg import sql

from airtable_pg.checks.context import CheckContext, mirror, table_name
from airtable_pg.checks.result import MAX_LISTED, CheckResult, Severity, first, plural
from airtable_pg.mirror_model import PG_TYPES
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, FieldSpec, TableSpec

CHUNK_ROWS = 20_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
EARLIEST_DATE = date(1900, 1, 1)
LATEST_YEARS_AHEAD = 10
SELECT_TYPES = {"singleSelect", "multipleSelects"}


@dataclass
class RuleFailures:
    column: str
    field: str | None
    rule: str
    severity: Severity
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: str, value: Any) -> None:
        self.count += 1
        if len(self.examples) < MAX_LISTED:
            self.examples.append({"record": record, "value": _plain(value)})

    def as_json(self) -> dict[str, Any]:
        shown = {"column": self.column, "field": self.field, "rule": self.rule, "severity": self.severity}
        return {**shown, "count": self.count, "examples": self.examples[:5]}

    def line(self) -> str:
        example = self.examples[0] if self.examples else {}
        return f"{self.column} ({self.field}) {self.rule}: {example.get('record')} {example.get('value')!r}"


def quality(ctx: CheckContext, base: BaseSpec, table: TableSpec) -> CheckResult:
    pool = ctx.api_pool()
    try:
        options = {fid: raw.get("options") or {} for fid, raw in (ctx.airtable_fields(base, table, pool) or {}).items()}
    finally:
        pool.close()
    schemas = build_schemas(table, options)
    failures: dict[tuple[str, str], RuleFailures] = {}
    rows = 0
    for chunk in stream_chunks(ctx, base, table, schemas):
        rows += len(chunk)
        for severity, schema in schemas.items():
            _validate(schema, severity, chunk, table, failures)
    for unique_failure in _duplicates(ctx, base, table):
        failures[(unique_failure.column, unique_failure.rule)] = unique_failure
    found = sorted(failures.values(), key=lambda f: (f.severity != "error", f.column, f.rule))
    worst: Severity = "error" if any(f.severity == "error" for f in found) or not found else "warn"
    if found:
        failing_rows = sum(f.count for f in found)
        reason = f"{plural(len(found), 'rule')} failed ({failing_rows} failing values); first: {found[0].line()}"
    else:
        rules = sum(len(s.columns) for s in schemas.values())
        reason = f"{rows} live rows pass {rules} column schemas and the spec's unique/required rules"
    ids = [e["record"] for f in found for e in f.examples]
    return CheckResult(
        table=table_name(base, table),
        check="quality",
        passed=not found,
        severity=worst,
        reason=reason,
        failing_ids=first(list(dict.fromkeys(ids))),
        details={
            "rows": rows,
            "failures": [f.as_json() for f in first(found)],
        },
        requests=pool.stats.requests,
    )


# -- the schemas ----------------------------------------------------------------------------------------


def build_schemas(table: TableSpec, options: dict[str, dict[str, Any]]) -> dict[Severity, pa.DataFrameSchema]:
    """Two pandera schemas for the table's typed columns: rules whose failure is an error, and warnings."""
    errors: dict[str, pa.Column] = {}
    warnings: dict[str, pa.Column] = {}
    for f in table.fields.values():
        error_checks, warn_checks = _field_checks(f, options.get(f.id))
        not_null = f.required or (f.type == "checkbox" and f.pg_type == "boolean")
        errors[f.column] = pa.Column(checks=error_checks, nullable=not not_null, coerce=False, required=True)
        if warn_checks:
            warnings[f.column] = pa.Column(checks=warn_checks, nullable=True, required=True)
    return {
        "error": pa.DataFrameSchema(errors, name=f"{table.key} (errors)"),
        "warn": pa.DataFrameSchema(warnings, name=f"{table.key} (warnings)"),
    }


def _field_checks(f: FieldSpec, options: dict[str, Any] | None) -> tuple[list[pa.Check], list[pa.Check]]:
    errors: list[pa.Check] = []
    warnings: list[pa.Check] = []
    python = PG_TYPES[f.pg_type].python
    if python is not object:
        errors.append(_element(f"is {f.pg_type}", _is_instance(python)))
    if f.required and f.pg_type == "text":
        errors.append(_element("is not empty", lambda v: v.strip() != ""))
    if f.type == "email" and f.pg_type == "text":
        errors.append(_element("is a valid e-mail", lambda v: bool(EMAIL.match(v))))
    if f.type == "rating" and python is int:
        top = int((options or {}).get("max") or 10)
        errors.append(_element(f"is a rating 1–{top}", lambda v: 1 <= v <= top))
    if f.type in SELECT_TYPES and options and "choices" in options:
        choices = frozenset(c["name"] for c in options["choices"])
        if f.pg_type == "text":
            warnings.append(_element("is one of the field's options", lambda v: v in choices))
        elif f.pg_type == "text[]":
            warnings.append(_element("holds only the field's options", lambda v: set(v) <= choices))
    if f.pg_type in {"date", "timestamptz"}:
        sane = f"is a date from {EARLIEST_DATE.year} to {LATEST_YEARS_AHEAD} years ahead"
        warnings.append(_element(sane, _sane_date))
    return errors, warnings


def _element(name: str, test: Callable[[Any], bool]) -> pa.Check:
    def safe(value: Any) -> bool:
        try:
            return bool(test(value))
        except (TypeError, ValueError, AttributeError):
            return False

    return pa.Check(safe, element_wise=True, name=name, ignore_na=True)


def _is_instance(python: type) -> Callable[[Any], bool]:
    if python is int:
        return lambda v: isinstance(v, int) and not isinstance(v, bool)
    return lambda v: isinstance(v, python)


def _sane_date(value: date | datetime) -> bool:
    latest = date.today().replace(year=date.today().year + LATEST_YEARS_AHEAD)
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    return EARLIEST_DATE <= day <= latest


# -- streaming and validating ---------------------------------------------------------------------------


def stream_chunks(
    ctx: CheckContext, base: BaseSpec, table: TableSpec, schemas: dict[Severity, pa.DataFrameSchema]
) -> Iterator[pd.DataFrame]:
    """The live rows' checked columns, ``CHUNK_ROWS`` at a time, through a server-side cursor."""
    columns = ["airtable_id", *dict.fromkeys(c for s in schemas.values() for c in s.columns)]
    query = sql.SQL("select {} from {} where deleted_at is null and airtable_id is not null").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), mirror(base, table)
    )
    raw = ctx.db.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor(name="airtable_pg_quality") as cur:  # server-side: rows arrive a chunk at a time
            cur.itersize = CHUNK_ROWS
            cur.execute(query)
            while rows := cur.fetchmany(CHUNK_ROWS):
                # object dtype: each value stays the Python value psycopg made (Decimal, date, list, None …)
                by_column = zip(columns, zip(*rows, strict=True), strict=True)
                yield pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in by_column})
        conn.commit()
    finally:
        raw.close()


def _validate(
    schema: pa.DataFrameSchema,
    severity: Severity,
    chunk: pd.DataFrame,
    table: TableSpec,
    failures: dict[tuple[str, str], RuleFailures],
) -> None:
    if not schema.columns:
        return
    try:
        schema.validate(chunk, lazy=True)
    except SchemaErrors as errors:
        by_column = {f.column: f.id for f in table.fields.values()}
        cases = errors.failure_cases
        for column, check, value, index in zip(
            cases["column"], cases["check"], cases["failure_case"], cases["index"], strict=True
        ):
            rule = "is not null" if check == "not_nullable" else str(check)
            entry = failures.get((column, rule))
            if entry is None:
                entry = failures[(column, rule)] = RuleFailures(column, by_column.get(column), rule, severity)
            record = chunk["airtable_id"].iat[int(index)] if index is not None and not pd.isna(index) else None
            entry.add(record, value)


def _duplicates(ctx: CheckContext, base: BaseSpec, table: TableSpec) -> Iterator[RuleFailures]:
    for f in table.fields.values():
        if not f.unique:
            continue
        value = sql.SQL("lower(m.{}::text)").format(sql.Identifier(f.column))
        with transaction(ctx.db) as cur:
            cur.execute(
                sql.SQL(
                    "select v, ids, count(*) over (), sum(n) over () from (select {v} as v, "
                    "array_agg(m.airtable_id order by m.airtable_id) as ids, count(*) as n from {t} m "
                    "where m.deleted_at is null and m.airtable_id is not null and m.{c} is not null "
                    "group by 1 having count(*) > 1) d order by v limit %s"
                ).format(v=value, t=mirror(base, table), c=sql.Identifier(f.column)),
                (MAX_LISTED,),
            )
            groups = cur.fetchall()
        if not groups:
            continue
        failure = RuleFailures(f.column, f.id, "is unique", "error")
        for duplicated, ids, _, _ in groups:
            for record in ids:
                failure.add(record, duplicated)
        failure.count = int(groups[0][3])  # every row sharing a value, not only the listed ones
        yield failure


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
