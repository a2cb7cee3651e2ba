"""The sync spec: which Airtable bases and tables are mirrored into Postgres, and how.

One YAML file (``AIRTABLE_PG_SPEC``; the demo base's spec ships as the default). Fields are keyed
by Airtable **field id**, so a field renamed in Airtable keeps its column: the name is metadata.

    version: 1
    bases:
      coaching:                       # base key: asset keys are ["airtable", <base key>, <table key>]
        id: appCoachingDemo01
        schema: airtable              # Postgres schema of the mirror tables
        requests_per_second: 4        # optional; this sync's share of the base's 5/s (the rest: your other clients)
        tables:
          users:                      # table key, also the default mirror table name
            id: tblUsers000000001
            airtable_name: users
            mirror: users
            authority: airtable       # airtable | postgres (the app writes Postgres; changes flow out)
            conflict_policy: postgres_wins  # postgres tables: postgres_wins | airtable_wins
            typecast: false           # postgres tables: let Airtable convert pushed values
            idempotency_field: airtable_pg_id  # postgres tables: Airtable field holding the row's id
            lane: fast                # fast | standard
            poll_interval_seconds: 60
            freshness_seconds: 120    # optional; the freshness gate's bound (default: fast 120, else 2 × poll)
            computed_refresh_seconds: 900  # optional; re-read computed cells (default: fast 900, else 3600)
            primary_field: fldXXXXXXXXXXXXXX
            fields:
              fldXXXXXXXXXXXXXX: {name: Name, type: singleLineText, column: name, pg_type: text}
              fldEEEEEEEEEEEEEE: {name: Email, type: email, column: email, pg_type: text,
                                  unique: true, required: true}   # optional data-quality rules
              fldYYYYYYYYYYYYYY: {name: Goals, type: multipleRecordLinks, column: goals, pg_type: text[],
                                  linked_table: tblGoals000000001, lineage: false}
              fldZZZZZZZZZZZZZZ: {name: Goal count, type: count, column: goal_count, pg_type: bigint,
                                  changes_with: [tblGoals000000001]}  # spec pull: what can move it (or time)

Invalid specs fail at load with a message naming the file, the table and the field; a key repeated
anywhere in the YAML (a field id pasted twice) fails with the file, its line and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airtable_pg.mirror_model import PG_TYPES
from airtable_pg.names import RESERVED_COLUMNS, STATE_SCHEMA, is_valid_identifier, join_table_name
from airtable_sandbox.demo_project import DEMO_SPEC

AUTHORITIES = ("airtable", "postgres")
CONFLICT_POLICIES = ("postgres_wins", "airtable_wins")  # who wins when Airtable edits a Postgres-authoritative record
DEFAULT_IDEMPOTENCY_FIELD = "airtable_pg_id"  # the Airtable field holding a Postgres row's id (outbound upserts)
# Field types Airtable computes: never pushed, filled in from Airtable's answer.
COMPUTED_TYPES = frozenset(
    {
        "formula", "rollup", "count", "multipleLookupValues", "lookup", "createdTime", "lastModifiedTime",
        "autoNumber", "createdBy", "lastModifiedBy", "button", "aiText", "externalSyncSource",
    }
)  # fmt: skip
LANES = ("fast", "standard")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
AIRTABLE_ID = re.compile(r"^(app|tbl|fld)[A-Za-z0-9]{14}$")
DEFAULT_POLL_SECONDS = {"fast": 60, "standard": 300}
DEFAULT_FAST_FRESHNESS_SECONDS = 120  # the users' lane: a new user must reach Postgres within two minutes
# How often computed cells (which change without LAST_MODIFIED_TIME() moving) are re-read: each refresh costs
# as many requests as the table has pages, so hourly for most tables; the fast lane's quarter hour costs the
# users' table (a few thousand records: tens of requests) under 1 % of the base's requests.
DEFAULT_COMPUTED_REFRESH_SECONDS = {"fast": 900, "standard": 3600}
# Field types whose values Airtable computes, and may change when another record changes.
RECOMPUTED_TYPES = frozenset({"formula", "rollup", "multipleLookupValues", "count"})
CHANGES_WITH_TIME = "time"


class UnknownTable(KeyError):
    """A table name the spec does not know (or knows twice); its message names the tables it does know.

    A KeyError, so code looking tables up by key keeps working; ``str()`` is the message itself (a plain KeyError
    quotes it), which the CLI prints as its one line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SpecError(ValueError):
    """A spec problem, located: ``spec.yaml: table coaching.users, field fldX: <problem>``."""

    def __init__(self, path: str, message: str, *, table: str | None = None, field_id: str | None = None):
        where = [str(path)]
        if table:
            where.append(f"table {table}")
        if field_id:
            where.append(f"field {field_id}")
        super().__init__(", ".join(where) + ": " + message)
        self.path, self.table, self.field_id = str(path), table, field_id


@dataclass(frozen=True)
class FieldSpec:
    id: str
    name: str  # the Airtable field name (informational; refreshed by `spec pull`)
    type: str  # the Airtable field type
    column: str
    pg_type: str
    linked_table: str | None = None  # multipleRecordLinks: the linked table's Airtable id
    lineage: bool = True  # multipleRecordLinks: draw an asset dependency on the linked table
    result_type: str | None = None  # formula/rollup/lookup: the type of value produced
    # formula/rollup/lookup/count: the tables whose records' changes can move its cells, and ``time`` when the clock
    # can (NOW(), TODAY()); written by `spec pull` (airtable.computed_dependencies). None: not known, so the table's
    # computed cells are re-read on every interval.
    changes_with: frozenset[str] | None = None
    # Data-quality rules a person adds (``airtable_pg.checks.quality``); Airtable itself enforces neither.
    unique: bool = False  # no two live rows share a value (case-insensitive for text)
    required: bool = False  # every live row has a non-empty value

    @property
    def is_link(self) -> bool:
        return self.type == "multipleRecordLinks"

    @property
    def is_computed(self) -> bool:
        """Airtable computes it: read-only through the API."""
        return self.type in COMPUTED_TYPES


@dataclass(frozen=True)
class TableSpec:
    key: str
    id: str
    airtable_name: str
    mirror: str
    authority: str
    lane: str
    poll_interval_seconds: int
    fields: dict[str, FieldSpec]  # field id -> spec, in spec order
    primary_field: str | None = None
    freshness_seconds: int | None = None  # the freshness gate's bound, when a person set one
    computed_refresh_seconds: int | None = None  # how often computed cells are re-read, when a person set it

    @property
    def computed_field_ids(self) -> list[str]:
        """Fields whose values Airtable computes (formula, rollup, lookup, count), in spec order."""
        return [f.id for f in self.fields.values() if f.type in RECOMPUTED_TYPES]

    @property
    def computed_changes_with(self) -> frozenset[str] | None:
        """What can move this table's computed cells without their records changing: table ids; ``None`` when
        the clock can (``time``) or when a computed field's dependencies are not known."""
        found: set[str] = set()
        for f in self.fields.values():
            if f.type not in RECOMPUTED_TYPES:
                continue
            if f.changes_with is None or CHANGES_WITH_TIME in f.changes_with:
                return None
            found |= f.changes_with
        return frozenset(found)

    @property
    def computed_refresh_interval(self) -> int:
        if self.computed_refresh_seconds is not None:
            return self.computed_refresh_seconds
        return DEFAULT_COMPUTED_REFRESH_SECONDS[self.lane]

    # Postgres-authoritative tables (authority: postgres) only:
    conflict_policy: str = "postgres_wins"  # an Airtable edit of a Postgres-authoritative record: who wins
    typecast: bool = False  # let Airtable convert pushed values (e.g. create a select option not yet defined)
    idempotency_field: str = DEFAULT_IDEMPOTENCY_FIELD  # Airtable field name holding the row's Postgres id

    @property
    def is_postgres_authoritative(self) -> bool:
        return self.authority == "postgres"

    @property
    def writable_fields(self) -> list[FieldSpec]:
        """The fields an outbound push writes: every field Airtable does not compute."""
        return [f for f in self.fields.values() if not f.is_computed]

    @property
    def freshness_bound_seconds(self) -> int:
        """How old the table's last applied change or successful sync may be before the freshness gate fails."""
        if self.freshness_seconds is not None:
            return self.freshness_seconds
        return DEFAULT_FAST_FRESHNESS_SECONDS if self.lane == "fast" else 2 * self.poll_interval_seconds

    @property
    def link_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields.values() if f.is_link]

    def join_table(self, link: FieldSpec) -> str:
        return join_table_name(self.mirror, link.column, key=f"{self.id}.{link.id}")


@dataclass(frozen=True)
class BaseSpec:
    key: str
    id: str
    schema: str
    tables: dict[str, TableSpec]  # table key -> spec
    # This sync's share of Airtable's 5 requests/s on the base; None: all of it (AIRTABLE_PG_RATE_LIMIT).
    requests_per_second: float | None = None

    def table_by_id(self, table_id: str) -> TableSpec | None:
        return next((t for t in self.tables.values() if t.id == table_id), None)

    def computed_refresh_watch(self, table: TableSpec) -> list[TableSpec] | None:
        """The mirrored tables whose applied changes call for a refresh of ``table``'s computed cells (none: they
        move only with their own records); ``None``: refresh on every interval (the clock moves them, what moves
        them is not known, or a table they read is not mirrored, so its changes are never seen here)."""
        watched = table.computed_changes_with
        if watched is None:
            return None
        tables = [self.table_by_id(table_id) for table_id in sorted(watched)]
        return None if any(t is None for t in tables) else tables  # type: ignore[return-value]


@dataclass(frozen=True)
class SyncSpec:
    path: str
    bases: dict[str, BaseSpec] = field(default_factory=dict)

    def tables(self) -> Iterator[tuple[BaseSpec, TableSpec]]:
        for base in self.bases.values():
            for table in base.tables.values():
                yield base, table

    def table(self, base_key: str, table_key: str) -> tuple[BaseSpec, TableSpec]:
        try:
            base = self.bases[base_key]
            return base, base.tables[table_key]
        except KeyError:
            raise UnknownTable(f"no table {base_key}.{table_key} in {self.path}") from None

    def find_table(self, name: str) -> tuple[BaseSpec, TableSpec]:
        """A table by ``base.table``, table key, mirror name or Airtable id/name (for ``--table``)."""
        matches = [
            (b, t) for b, t in self.tables() if name in {f"{b.key}.{t.key}", t.key, t.mirror, t.id, t.airtable_name}
        ]
        if len(matches) != 1:
            known = ", ".join(f"{b.key}.{t.key}" for b, t in self.tables())
            problem = "is ambiguous" if matches else "matches no table"
            raise UnknownTable(f"table {name!r} {problem} in {self.path} (tables: {known})")
        return matches[0]

    def base_rates(self) -> dict[str, float]:
        """Base id → the requests/s this sync may use, for the bases whose spec leaves room to other clients."""
        return {b.id: b.requests_per_second for b in self.bases.values() if b.requests_per_second is not None}


    def fast_lane_bases(self) -> frozenset[str]:
        """Base ids with at least one fast-lane table: the only bases whose limiter keeps slots for that lane."""
        return frozenset(b.id for b in self.bases.values() if any(t.lane == "fast" for t in b.tables.values()))


def default_spec_path() -> str:
    env = os.environ.get("AIRTABLE_PG_SPEC")
    if env:
        return env
    return str(DEMO_SPEC)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"line {line}: duplicate key {key!r} (first at line {first_line})")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a mapping repeating a key is an error instead of "last one wins".

    A field id pasted twice would otherwise silently drop the first field's column.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: keys beside it may override it
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = first_lines.setdefault(key, line)
            except TypeError:  # an unhashable key: the safe loader's own error says so
                continue
            if first != line:
                raise _DuplicateKey(key, line, first)
        return super().construct_mapping(node, deep=deep)


def load_spec(path: str | os.PathLike[str] | None = None) -> SyncSpec:
    spec_path = str(path or default_spec_path())
    try:
        raw = yaml.load(Path(spec_path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise SpecError(spec_path, "file not found (set AIRTABLE_PG_SPEC to your spec)") from None
    except _DuplicateKey as exc:
        raise SpecError(spec_path, str(exc)) from None
    except yaml.YAMLError as exc:
        raise SpecError(spec_path, f"not valid YAML: {exc}") from None
    return parse_spec(raw, spec_path)


def parse_spec(raw: Any, path: str = "<spec>") -> SyncSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("bases"), dict) or not raw["bases"]:
        raise SpecError(path, "expected a mapping with a non-empty 'bases' mapping")
    if raw.get("version", 1) != 1:
        raise SpecError(path, f"unsupported spec version {raw.get('version')!r} (this airtable_pg reads version 1)")
    bases = {key: _parse_base(path, key, body) for key, body in raw["bases"].items()}
    _check_cross_references(path, bases)
    return SyncSpec(path=path, bases=bases)


def _require(path: str, mapping: Any, key: str, kind: type, *, table: str | None = None, field_id: str | None = None):
    if not isinstance(mapping, dict) or key not in mapping:
        raise SpecError(path, f"missing '{key}'", table=table, field_id=field_id)
    value = mapping[key]
    if not isinstance(value, kind):
        raise SpecError(path, f"'{key}' must be a {kind.__name__}, got {value!r}", table=table, field_id=field_id)
    return value


def _parse_base(path: str, key: str, body: Any) -> BaseSpec:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise SpecError(path, f"base key {key!r} must match {KEY_PATTERN.pattern}")
    base_id = _require(path, body, "id", str, table=key)
    if not AIRTABLE_ID.match(base_id) or not base_id.startswith("app"):
        raise SpecError(path, f"base id {base_id!r} is not an Airtable base id (app + 14 characters)", table=key)
    schema = body.get("schema", "airtable")
    if not isinstance(schema, str) or not is_valid_identifier(schema):
        raise SpecError(path, f"schema {schema!r} is not a valid Postgres identifier (≤ 63 bytes)", table=key)
    if schema == STATE_SCHEMA:
        raise SpecError(path, f"schema {schema!r} holds airtable_pg's own sync state: choose another", table=key)
    rate = body.get("requests_per_second")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 5):
        raise SpecError(
            path, f"requests_per_second {rate!r} must be a number above 0 and at most Airtable's 5", table=key
        )
    tables_raw = _require(path, body, "tables", dict, table=key)
    tables = {tkey: _parse_table(path, key, tkey, tbody) for tkey, tbody in tables_raw.items()}
    mirrors: dict[str, str] = {}
    for table in tables.values():
        if table.mirror in mirrors:
            raise SpecError(
                path,
                f"mirror table {table.mirror!r} is also used by {mirrors[table.mirror]}",
                table=f"{key}.{table.key}",
            )
        mirrors[table.mirror] = f"{key}.{table.key}"
    return BaseSpec(key=key, id=base_id, schema=schema, tables=tables,
                    requests_per_second=None if rate is None else float(rate))  # fmt: skip


def _parse_table(path: str, base_key: str, key: Any, body: Any) -> TableSpec:
    where = f"{base_key}.{key}"
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise SpecError(path, f"table key {key!r} must match {KEY_PATTERN.pattern}", table=where)
    table_id = _require(path, body, "id", str, table=where)
    if not AIRTABLE_ID.match(table_id) or not table_id.startswith("tbl"):
        raise SpecError(path, f"table id {table_id!r} is not an Airtable table id (tbl + 14 characters)", table=where)
    mirror = body.get("mirror", key)
    if not isinstance(mirror, str) or not is_valid_identifier(mirror):
        raise SpecError(path, f"mirror {mirror!r} is not a valid Postgres identifier (≤ 63 bytes)", table=where)
    authority = body.get("authority", "airtable")
    if authority not in AUTHORITIES:
        raise SpecError(path, f"authority {authority!r} must be one of {', '.join(AUTHORITIES)}", table=where)
    lane = body.get("lane", "standard")
    if lane not in LANES:
        raise SpecError(path, f"lane {lane!r} must be one of {', '.join(LANES)}", table=where)
    interval = body.get("poll_interval_seconds", DEFAULT_POLL_SECONDS[lane])
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        raise SpecError(path, f"poll_interval_seconds must be a positive integer, got {interval!r}", table=where)
    fields_raw = _require(path, body, "fields", dict, table=where)
    fields: dict[str, FieldSpec] = {}
    columns: dict[str, str] = {}
    for field_id, fbody in fields_raw.items():
        spec = _parse_field(path, where, field_id, fbody)
        if spec.column in columns:
            raise SpecError(
                path,
                f"column {spec.column!r} is also used by field {columns[spec.column]}",
                table=where,
                field_id=field_id,
            )
        columns[spec.column] = field_id
        fields[field_id] = spec
    freshness = body.get("freshness_seconds")
    if freshness is not None and (not isinstance(freshness, int) or isinstance(freshness, bool) or freshness < 1):
        raise SpecError(path, f"freshness_seconds must be a positive integer, got {freshness!r}", table=where)
    refresh = body.get("computed_refresh_seconds")
    if refresh is not None and (not isinstance(refresh, int) or isinstance(refresh, bool) or refresh < 60):
        raise SpecError(path, f"computed_refresh_seconds must be an integer ≥ 60, got {refresh!r}", table=where)
    policy = body.get("conflict_policy", "postgres_wins")
    if policy not in CONFLICT_POLICIES:
        raise SpecError(path, f"conflict_policy {policy!r} must be one of {', '.join(CONFLICT_POLICIES)}", table=where)
    typecast = body.get("typecast", False)
    if not isinstance(typecast, bool):
        raise SpecError(path, f"typecast must be true or false, got {typecast!r}", table=where)
    key_field = body.get("idempotency_field", DEFAULT_IDEMPOTENCY_FIELD)
    if not isinstance(key_field, str) or not key_field.strip():
        raise SpecError(path, f"idempotency_field must be a field name, got {key_field!r}", table=where)
    primary = body.get("primary_field")
    if primary is not None and primary not in fields:
        raise SpecError(path, f"primary_field {primary!r} is not one of the table's fields", table=where)
    return TableSpec(
        key=key,
        id=table_id,
        airtable_name=str(body.get("airtable_name", key)),
        mirror=mirror,
        authority=authority,
        lane=lane,
        poll_interval_seconds=interval,
        fields=fields,
        primary_field=primary,
        freshness_seconds=freshness,
        computed_refresh_seconds=refresh,
        conflict_policy=policy,
        typecast=typecast,
        idempotency_field=key_field,
    )


def _parse_field(path: str, table: str, field_id: Any, body: Any) -> FieldSpec:
    if not isinstance(field_id, str) or not AIRTABLE_ID.match(field_id) or not field_id.startswith("fld"):
        raise SpecError(
            path, "key is not an Airtable field id (fld + 14 characters)", table=table, field_id=str(field_id)
        )
    column = _require(path, body, "column", str, table=table, field_id=field_id)
    if not is_valid_identifier(column):
        raise SpecError(
            path, f"column {column!r} is not a valid Postgres identifier (≤ 63 bytes)", table=table, field_id=field_id
        )
    if column in RESERVED_COLUMNS:
        raise SpecError(
            path,
            f"column {column!r} is reserved (reserved: {', '.join(sorted(RESERVED_COLUMNS))})",
            table=table,
            field_id=field_id,
        )
    pg_type = _require(path, body, "pg_type", str, table=table, field_id=field_id)
    if pg_type not in PG_TYPES:
        raise SpecError(
            path, f"pg_type {pg_type!r} must be one of {', '.join(sorted(PG_TYPES))}", table=table, field_id=field_id
        )
    airtable_type = _require(path, body, "type", str, table=table, field_id=field_id)
    linked = body.get("linked_table")
    if airtable_type == "multipleRecordLinks":
        if not isinstance(linked, str) or not linked.startswith("tbl"):
            raise SpecError(
                path,
                "a multipleRecordLinks field needs 'linked_table' (the linked table's id)",
                table=table,
                field_id=field_id,
            )
        if pg_type != "text[]":
            raise SpecError(path, "a multipleRecordLinks field must be pg_type text[]", table=table, field_id=field_id)
    lineage = body.get("lineage", True)
    if not isinstance(lineage, bool):
        raise SpecError(path, f"lineage must be true or false, got {lineage!r}", table=table, field_id=field_id)
    changes_with = _parse_changes_with(path, table, field_id, airtable_type, body.get("changes_with"))
    rules = {}
    for rule in ("unique", "required"):
        value = body.get(rule, False)
        if not isinstance(value, bool):
            raise SpecError(path, f"{rule} must be true or false, got {value!r}", table=table, field_id=field_id)
        rules[rule] = value
    return FieldSpec(
        id=field_id,
        name=str(body.get("name", column)),
        type=airtable_type,
        column=column,
        pg_type=pg_type,
        linked_table=linked,
        lineage=lineage,
        result_type=body.get("result_type"),
        changes_with=changes_with,
        **rules,
    )


def _parse_changes_with(path: str, table: str, field_id: str, airtable_type: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if airtable_type not in RECOMPUTED_TYPES:
        raise SpecError(
            path, f"changes_with belongs to {', '.join(sorted(RECOMPUTED_TYPES))} fields only", table=table,
            field_id=field_id,
        )  # fmt: skip
    if not isinstance(value, list) or not all(
        isinstance(item, str) and (item == CHANGES_WITH_TIME or (item.startswith("tbl") and AIRTABLE_ID.match(item)))
        for item in value
    ):
        raise SpecError(
            path, f"changes_with must list table ids (tbl…) and/or {CHANGES_WITH_TIME!r}, got {value!r}", table=table,
            field_id=field_id,
        )  # fmt: skip
    return frozenset(value)


def _check_cross_references(path: str, bases: dict[str, BaseSpec]) -> None:
    for base in bases.values():
        for table in base.tables.values():
            for link in table.link_fields:
                # A link to a table outside the spec is fine (the ids still sync); lineage needs both ends.
                if link.lineage and base.table_by_id(link.linked_table or "") is None:
                    raise SpecError(
                        path,
                        f"lineage to {link.linked_table} needs that table in the spec (or set lineage: false)",
                        table=f"{base.key}.{table.key}",
                        field_id=link.id,
                    )


def spec_to_dict(spec: SyncSpec) -> dict[str, Any]:
    """The YAML-ready form of a spec (used by ``spec pull`` to write the file back)."""
    bases: dict[str, Any] = {}
    for base in spec.bases.values():
        tables: dict[str, Any] = {}
        for table in base.tables.values():
            fields: dict[str, Any] = {}
            for f in table.fields.values():
                entry: dict[str, Any] = {"name": f.name, "type": f.type, "column": f.column, "pg_type": f.pg_type}
                if f.linked_table:
                    entry["linked_table"] = f.linked_table
                    entry["lineage"] = f.lineage
                if f.result_type:
                    entry["result_type"] = f.result_type
                if f.changes_with is not None:
                    entry["changes_with"] = sorted(f.changes_with, key=lambda item: (item != CHANGES_WITH_TIME, item))
                for rule in ("unique", "required"):
                    if getattr(f, rule):
                        entry[rule] = True
                fields[f.id] = entry
            body: dict[str, Any] = {
                "id": table.id,
                "airtable_name": table.airtable_name,
                "mirror": table.mirror,
                "authority": table.authority,
                "lane": table.lane,
                "poll_interval_seconds": table.poll_interval_seconds,
            }
            if table.freshness_seconds is not None:
                body["freshness_seconds"] = table.freshness_seconds
            if table.computed_refresh_seconds is not None:
                body["computed_refresh_seconds"] = table.computed_refresh_seconds
            if table.primary_field:
                body["primary_field"] = table.primary_field
            # Outbound settings, where they differ from the defaults (a pull keeps what a person chose).
            if table.conflict_policy != "postgres_wins":
                body["conflict_policy"] = table.conflict_policy
            if table.typecast:
                body["typecast"] = True
            if table.idempotency_field != DEFAULT_IDEMPOTENCY_FIELD:
                body["idempotency_field"] = table.idempotency_field
            body["fields"] = fields
            tables[table.key] = body
        bases[base.key] = {"id": base.id, "schema": base.schema}
        if base.requests_per_second is not None:  # a person's choice: a pull keeps it
            bases[base.key]["requests_per_second"] = base.requests_per_second
        bases[base.key]["tables"] = tables
    return {"version": 1, "bases": bases}


def dump_spec(spec: SyncSpec) -> str:
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False, allow_unicode=True, width=120)
