"""Link integrity: every linked record id points at a live row of the linked table, and two-way links agree.

Per link field of the table, in Postgres alone (no Airtable request):

* the ``text[]`` column and the join table hold the same ids in the same order;
* every id in either points at a live row of the linked table (a link to a tombstoned or unknown record
  dangles);
* the inverse link field (the linked table's one link field back to this table) lists this record too.

A two-way link is checked from the table whose side has ``lineage: true`` (the child: a goal's user), for both
directions: the child's asset depends on the parent's, so in Dagster its check runs once both are synced. The
parent's side of the link (a user's goals) is therefore reported on the child's check.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import Cursor, sql

from airtable_pg.checks.context import CheckContext, mirror, table_name
from airtable_pg.checks.result import MAX_LISTED, CheckResult, first
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, FieldSpec, TableSpec


@dataclass(frozen=True)
class BadLink:
    table: str
    record: str
    field: str
    column: str
    linked: str | None
    problem: str

    def line(self) -> str:
        target = f" → {self.linked}" if self.linked else ""
        return f"{self.table} {self.record} {self.column} ({self.field}){target}: {self.problem}"


def links(ctx: CheckContext, base: BaseSpec, table: TableSpec) -> CheckResult:
    problems: list[BadLink] = []
    totals: dict[str, int] = {}
    unchecked = []
    checked = relationships(base, table)
    with transaction(ctx.db) as cur:
        for owner, link in checked:
            target = base.table_by_id(link.linked_table or "")
            if target is None:
                unchecked.append(f"{owner.key}.{link.column}")  # not mirrored: its ids cannot be verified
                continue
            for kind, query in _queries(base, owner, link, target).items():
                found, count = _run(cur, query, owner, link, kind)
                problems.extend(found)
                totals[f"{owner.key}.{link.column}: {kind}"] = count
    total = sum(totals.values())
    if total:
        reason = f"{total} bad link(s); first: {problems[0].line()}"
    else:
        names = ", ".join(f"{owner.key}.{link.column}" for owner, link in checked) or "none here"
        reason = f"links intact ({names}): every linked id is live, columns = join tables, inverses agree"
    return CheckResult(
        table=table_name(base, table),
        check="links",
        passed=total == 0,
        severity="error",
        reason=reason,
        failing_ids=first(list(dict.fromkeys(p.record for p in problems))),
        details={
            "bad_links": [p.__dict__ for p in first(problems)],
            "counts": {name: count for name, count in totals.items() if count},
            "checked": [f"{owner.key}.{link.column}" for owner, link in checked],
            "not_checked": unchecked,
        },
    )


def relationships(base: BaseSpec, table: TableSpec) -> list[tuple[TableSpec, FieldSpec]]:
    """The link fields this table's check covers: its own, except those checked from their inverse's side,
    plus the inverses of its own drawn links (its parents' link fields back to it)."""
    mine = [(table, link) for link in table.link_fields if not _checked_from_inverse(base, table, link)]
    theirs = [
        (other, link)
        for other in base.tables.values()
        if other.key != table.key
        for link in other.link_fields
        if link.linked_table == table.id and _checked_from_inverse(base, other, link)
    ]
    return mine + theirs


def _checked_from_inverse(base: BaseSpec, table: TableSpec, link: FieldSpec) -> bool:
    target = base.table_by_id(link.linked_table or "")
    if target is None or target.id == table.id or link.lineage:
        return False
    inverse = inverse_field(target, table, link)
    return inverse is not None and inverse.lineage


def _queries(base: BaseSpec, table: TableSpec, link: FieldSpec, target: TableSpec) -> dict[str, sql.Composed]:
    names = {
        "owner": mirror(base, table),
        "join": sql.Identifier(base.schema, table.join_table(link)),
        "target": mirror(base, target),
        "column": sql.Identifier(link.column),
    }
    queries = {
        "points at no live row (join table)": sql.SQL(
            "select j.airtable_id, j.linked_airtable_id from {join} j join {owner} m on m.airtable_id = j.airtable_id "
            "and m.deleted_at is null where " + _not_live("j.linked_airtable_id")
        ),
        "points at no live row (column)": sql.SQL(
            "select m.airtable_id, x from {owner} m cross join unnest(m.{column}) x where m.deleted_at is null and "
            + _not_live("x")
        ),
        "column and join table differ": sql.SQL(
            "select m.airtable_id, null from {owner} m where m.deleted_at is null and m.airtable_id is not null and "
            "coalesce(m.{column}, '{{}}') is distinct from array(select j.linked_airtable_id from {join} j "
            "where j.airtable_id = m.airtable_id order by j.position)"
        ),
    }
    inverse = inverse_field(target, table, link)
    if inverse is not None:
        names["inverse"] = sql.Identifier(base.schema, target.join_table(inverse))
        queries[f"not listed back by {target.key}.{inverse.column}"] = sql.SQL(
            "select j.airtable_id, j.linked_airtable_id from {join} j "
            "join {owner} m on m.airtable_id = j.airtable_id and m.deleted_at is null "
            "join {target} t on t.airtable_id = j.linked_airtable_id and t.deleted_at is null "
            "where not exists (select 1 from {inverse} k where k.airtable_id = j.linked_airtable_id "
            "and k.linked_airtable_id = j.airtable_id)"
        )
    return {kind: query.format(**names) for kind, query in queries.items()}


def _not_live(linked_id: str) -> str:
    return f"not exists (select 1 from {{target}} t where t.airtable_id = {linked_id} and t.deleted_at is null)"


def inverse_field(target: TableSpec, table: TableSpec, link: FieldSpec) -> FieldSpec | None:
    """The linked table's link field back to this table, when there is exactly one (Airtable's two-way link)."""
    back = [f for f in target.link_fields if f.linked_table == table.id and f.id != link.id]
    return back[0] if len(back) == 1 else None


def _run(cur: Cursor, query: sql.Composed, owner: TableSpec, link: FieldSpec, kind: str) -> tuple[list[BadLink], int]:
    cur.execute(sql.SQL("select count(*) over (), q.* from ({}) q limit %s").format(query), (MAX_LISTED,))
    rows = cur.fetchall()
    found = [BadLink(owner.key, record, link.id, link.column, linked, kind) for _, record, linked in rows]
    return found, rows[0][0] if rows else 0
