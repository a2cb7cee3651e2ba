"""``airtable-pg spec pull``: write the spec's tables and fields from Airtable's metadata API.

What Airtable owns (names, types, link targets) is refreshed; what a person chose (table keys,
mirror and column names, authority, lane, poll interval, freshness bound, lineage, a hand-picked pg_type,
quality rules) is kept.
Fields are matched by id, so a field renamed in Airtable keeps its column and its data.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pyairtable import Api

from airtable_pg.airtable.computed_dependencies import Dependence, changes_with
from airtable_pg.airtable.meta import fetch_tables
from airtable_pg.airtable.outbound import KEY_FIELD_DESCRIPTION
from airtable_pg.airtable.types import pg_type_for, result_type_of
from airtable_pg.names import RESERVED_COLUMNS, slug, unique_name
from airtable_pg.spec import (
    DEFAULT_IDEMPOTENCY_FIELD,
    DEFAULT_POLL_SECONDS,
    BaseSpec,
    FieldSpec,
    SyncSpec,
    TableSpec,
    load_spec,
    parse_spec,
    spec_to_dict,
)


def merge_base(existing: BaseSpec | None, base_key: str, base_id: str, tables: list[dict[str, Any]]) -> BaseSpec:
    previous = {t.id: t for t in existing.tables.values()} if existing else {}
    kept = [t for t in previous.values() if t.id in {raw["id"] for raw in tables}]
    # A new table's key is also its mirror name, so it must avoid the mirror names people chose too.
    taken_keys = {t.key for t in kept} | {t.mirror for t in kept}
    lineage = _default_lineage(tables)
    dependencies = changes_with(tables)
    merged: dict[str, TableSpec] = {}
    for raw in tables:
        old = previous.get(raw["id"])
        key = old.key if old else unique_name(slug(raw["name"], fallback="table"), key=raw["id"], taken=taken_keys)
        merged[key] = _merge_table(old, key, raw, lineage, dependencies)
    return BaseSpec(
        key=base_key,
        id=base_id,
        schema=existing.schema if existing else "airtable",
        tables=merged,
        requests_per_second=existing.requests_per_second if existing else None,
    )  # a person's choice


def _merge_table(
    old: TableSpec | None, key: str, raw: dict[str, Any], lineage: dict[str, bool], dependencies: dict[str, Dependence]
) -> TableSpec:
    old_fields = old.fields if old else {}
    taken = set(RESERVED_COLUMNS) | {
        f.column for fid, f in old_fields.items() if fid in {x["id"] for x in raw["fields"]}
    }
    fields: dict[str, FieldSpec] = {}
    key_field = old.idempotency_field if old else DEFAULT_IDEMPOTENCY_FIELD
    for raw_field in raw["fields"]:
        if _is_key_field(raw_field, key_field):  # airtable_pg's own idempotency key, not the app's data
            continue
        merged = _merge_field(old_fields.get(raw_field["id"]), raw_field, taken, lineage)
        fields[raw_field["id"]] = replace(merged, changes_with=dependencies.get(raw_field["id"]))
    lane = old.lane if old else "standard"
    return TableSpec(
        key=key,
        id=raw["id"],
        airtable_name=raw["name"],
        mirror=old.mirror if old else key,
        authority=old.authority if old else "airtable",
        lane=lane,
        poll_interval_seconds=old.poll_interval_seconds if old else DEFAULT_POLL_SECONDS[lane],
        fields=fields,
        primary_field=raw.get("primaryFieldId"),
        freshness_seconds=old.freshness_seconds if old else None,
        computed_refresh_seconds=old.computed_refresh_seconds if old else None,
        **({"conflict_policy": old.conflict_policy, "typecast": old.typecast,
            "idempotency_field": old.idempotency_field} if old else {}),
    )  # fmt: skip


def _is_key_field(raw_field: dict[str, Any], key_field: str) -> bool:
    """The idempotency-key field outbound pushes rely on: by the spec's name for it, or by the description
    ``outbound setup`` gives the fields it creates (a table whose key field was named otherwise before)."""
    return raw_field["name"] == key_field or raw_field.get("description") == KEY_FIELD_DESCRIPTION


def _merge_field(old: FieldSpec | None, raw: dict[str, Any], taken: set[str], lineage: dict[str, bool]) -> FieldSpec:
    options = raw.get("options") or {}
    is_link = raw["type"] == "multipleRecordLinks"
    mapped = pg_type_for(raw["type"], options)
    result_type = result_type_of(raw["type"], options)
    # A person may have picked another column type; keep it unless Airtable changed what the field holds
    # (its type, or for computed fields the type of their result).
    keep_type = old is not None and old.type == raw["type"] and old.result_type == result_type
    return FieldSpec(
        id=raw["id"],
        name=raw["name"],
        type=raw["type"],
        column=old.column if old else unique_name(slug(raw["name"]), key=raw["id"], taken=taken),
        pg_type=old.pg_type if keep_type else mapped,
        linked_table=options.get("linkedTableId") if is_link else None,
        lineage=(old.lineage if old and old.is_link else lineage.get(raw["id"], False)) if is_link else True,
        result_type=result_type,
        unique=old.unique if old else False,
        required=old.required if old else False,
    )


def _default_lineage(tables: list[dict[str, Any]]) -> dict[str, bool]:
    """Which link fields become asset dependencies, so the graph is a DAG that reads child → parent.

    Airtable links are two-way, so both sides exist. The side that prefers a single record (a goal's
    one user) is the child's reference to its parent; without that hint, the table listed later
    depends on the earlier one. Self-links and links leaving the base draw no edge.
    """
    order = {t["id"]: i for i, t in enumerate(tables)}
    fields = {f["id"]: (t["id"], f) for t in tables for f in t["fields"] if f["type"] == "multipleRecordLinks"}
    lineage: dict[str, bool] = {}
    for field_id, (table_id, f) in fields.items():
        options = f.get("options") or {}
        target = options.get("linkedTableId")
        inverse = fields.get(options.get("inverseLinkFieldId") or "")
        if target not in order or target == table_id:
            lineage[field_id] = False
            continue
        if inverse is None:
            lineage[field_id] = True
            continue
        mine = bool(options.get("prefersSingleRecordLink"))
        theirs = bool((inverse[1].get("options") or {}).get("prefersSingleRecordLink"))
        lineage[field_id] = mine if mine != theirs else order[table_id] > order[target]
    return lineage


def pull(spec_path: Path, api: Api, base_id: str, base_key: str | None) -> SyncSpec:
    existing = load_spec(spec_path) if spec_path.exists() else None
    current = next((b for b in existing.bases.values() if b.id == base_id), None) if existing else None
    key = current.key if current else (base_key or slug(base_id, fallback="base"))
    merged = merge_base(current, key, base_id, fetch_tables(api, base_id))
    bases = dict(existing.bases) if existing else {}
    bases[key] = merged
    spec = SyncSpec(path=str(spec_path), bases=bases)
    # Round-trip through the parser: a pulled spec obeys the same rules as a hand-written one.
    return parse_spec(spec_to_dict(spec), str(spec_path))


DEFAULT_HEADER = "# The airtable_pg sync spec. `airtable-pg spec pull` refreshes what Airtable owns; edit the rest.\n"


def leading_comments(path: Path) -> str:
    """The comment block at the top of an existing spec, so a pull does not erase a person's notes there."""
    if not path.exists():
        return DEFAULT_HEADER
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)
