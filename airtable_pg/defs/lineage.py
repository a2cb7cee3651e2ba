"""Lineage of one base's tables: linked-record fields become asset dependencies, kept acyclic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dagster import AssetKey, TableColumnDep, TableColumnLineage

from airtable_pg.spec import BaseSpec, FieldSpec

ASSET_PREFIX = "airtable"


def table_asset_key(base_key: str, table_key: str) -> AssetKey:
    return AssetKey([ASSET_PREFIX, base_key, table_key])


@dataclass(frozen=True)
class LinkEdge:
    """``downstream`` depends on ``upstream`` because its ``link`` field points at ``upstream``'s records."""

    downstream: str  # table key
    upstream: str  # table key
    link: FieldSpec


@dataclass(frozen=True)
class BaseLineage:
    kept: list[LinkEdge]
    dropped: list[LinkEdge]  # links that would have closed a cycle

    def upstream_of(self, table_key: str) -> list[str]:
        seen: dict[str, None] = {}  # ordered set: two link fields to the same table are one dependency
        for edge in self.kept:
            if edge.downstream == table_key:
                seen[edge.upstream] = None
        return list(seen)


def base_lineage(base: BaseSpec) -> BaseLineage:
    """The dependency edges of one base's tables, with every back-edge dropped.

    Airtable links are usually two-way (users ↔ goals), so following every ``lineage: true`` link
    would make cycles, which Dagster rejects. The rule, which depends only on the spec's order:
    a link to a table declared *earlier* in the spec is always kept (those edges alone can never
    form a cycle: they all point back in spec order); a link to a table declared later, or to the
    table itself, is kept only if it closes no cycle with what is already kept. So declaring parent
    tables before their children (users before goals) draws the lineage people expect, and
    ``lineage: false`` on a field settles any case the rule decides differently.
    """
    order = {key: position for position, key in enumerate(base.tables)}
    candidates = [
        LinkEdge(downstream=table.key, upstream=upstream.key, link=link)
        for table in base.tables.values()
        for link in table.link_fields
        if link.lineage and (upstream := base.table_by_id(link.linked_table or "")) is not None
    ]
    # A stable sort keeps spec order within each group: the result never depends on dict hashing.
    candidates.sort(key=lambda edge: order[edge.upstream] >= order[edge.downstream])
    kept: list[LinkEdge] = []
    dropped: list[LinkEdge] = []
    for edge in candidates:
        if _depends_on(kept, start=edge.upstream, target=edge.downstream):
            dropped.append(edge)
        else:
            kept.append(edge)
    return BaseLineage(kept=kept, dropped=dropped)


def _depends_on(edges: list[LinkEdge], *, start: str, target: str) -> bool:
    """Whether ``start`` is ``target`` or (transitively) depends on it through ``edges``."""
    pending, visited = [start], set()
    while pending:
        table = pending.pop()
        if table == target:
            return True
        if table not in visited:
            visited.add(table)
            pending.extend(edge.upstream for edge in edges if edge.downstream == table)
    return False


def column_lineage(
    base_key: str, edges: list[LinkEdge], asset_key: Callable[[str, str], AssetKey] = table_asset_key
) -> TableColumnLineage:
    """Each drawn link column comes from the linked table's ``airtable_id``."""
    return TableColumnLineage(
        deps_by_column={
            edge.link.column: [
                TableColumnDep(asset_key=asset_key(base_key, edge.upstream), column_name="airtable_id")
            ]
            for edge in edges
        }
    )
