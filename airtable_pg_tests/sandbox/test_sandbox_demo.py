"""The demo base generator: fixed schema ids, every field type, deterministic streaming records, hostile names."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pyairtable.api.types import AttachmentDict, CollaboratorDict
from pyairtable.models.schema import BaseSchema, UnknownFieldSchema
from pyairtable.utils import is_base_id, is_field_id, is_record_id, is_table_id, is_user_id

from airtable_pg_tests import SAMPLES
from airtable_sandbox import demo

REFERENCE = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
THREE_YEARS = 3 * 365 * 86_400
ID_PATTERN = re.compile(r"^[a-z]{3}[0-9A-Za-z]{14}$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# Every field type the brief asks the demo base to cover.
REQUIRED_TYPES = {
    "singleLineText",
    "multilineText",
    "email",
    "url",
    "phoneNumber",
    "checkbox",
    "number",
    "currency",
    "percent",
    "duration",
    "rating",
    "date",
    "dateTime",
    "singleSelect",
    "multipleSelects",
    "multipleRecordLinks",
    "multipleLookupValues",
    "rollup",
    "count",
    "formula",
    "multipleAttachments",
    "singleCollaborator",
    "multipleCollaborators",
    "createdTime",
    "lastModifiedTime",
    "autoNumber",
    "createdBy",
    "lastModifiedBy",
    "barcode",
    "richText",
}
COMPUTED_TYPES = {
    "formula",
    "multipleLookupValues",
    "rollup",
    "count",
    "createdTime",
    "lastModifiedTime",
    "autoNumber",
    "createdBy",
    "lastModifiedBy",
}
# Option keys per type, copied from airtable_pg_tests/samples/field_schema/*.json (count: API.md §5; links:
# BaseSchema.json, since the link sample is a one-way self-link without inverseLinkFieldId).
OPTION_KEYS: dict[str, set[str]] = {
    "checkbox": {"icon", "color"},
    "count": {"isValid", "recordLinkFieldId"},
    "createdTime": {"result"},
    "currency": {"precision", "symbol"},
    "date": {"dateFormat"},
    "dateTime": {"dateFormat", "timeFormat", "timeZone"},
    "duration": {"durationFormat"},
    "formula": {"formula", "isValid", "referencedFieldIds", "result"},
    "lastModifiedTime": {"isValid", "referencedFieldIds", "result"},
    "multipleAttachments": {"isReversed"},
    "multipleLookupValues": {"isValid", "recordLinkFieldId", "fieldIdInLinkedTable", "result"},
    "multipleRecordLinks": {"linkedTableId", "inverseLinkFieldId", "isReversed", "prefersSingleRecordLink"},
    "multipleSelects": {"choices"},
    "number": {"precision"},
    "percent": {"precision"},
    "rating": {"icon", "max", "color"},
    "rollup": {"isValid", "recordLinkFieldId", "fieldIdInLinkedTable", "referencedFieldIds", "result"},
    "singleSelect": {"choices"},
}
WITHOUT_OPTIONS = {
    "autoNumber",
    "barcode",
    "createdBy",
    "email",
    "lastModifiedBy",
    "multilineText",
    "multipleCollaborators",
    "phoneNumber",
    "richText",
    "singleCollaborator",
    "singleLineText",
    "url",
}


def all_fields(schema: list[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    for table in schema:
        for spec in table["fields"]:
            yield table, spec


@pytest.fixture(scope="module")
def records_10k() -> list[Any]:
    return list(demo.demo_records(10_000, seed=42))


# --------------------------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------------------------


def test_schema_covers_every_field_type() -> None:
    present = {spec["type"] for _, spec in all_fields(demo.demo_schema())}
    assert present >= REQUIRED_TYPES, f"missing: {sorted(REQUIRED_TYPES - present)}"


def test_schema_tables_are_the_apps_tables_with_fixed_ids() -> None:
    schema = demo.demo_schema()
    assert [table["name"] for table in schema] == [
        "programs",
        "methods",
        "overtuigingen",
        "users",
        "persoonlijke_overtuigingen",
        "personal_goals",
    ]
    assert {table["name"]: table["id"] for table in schema} == demo.DEMO_TABLE_IDS
    users = next(table for table in schema if table["name"] == "users")
    assert {spec["name"]: spec["id"] for spec in users["fields"]} == demo.USER_FIELDS
    assert demo.DEMO_BASE_ID == "appCoachingDemo01" and demo.DEMO_BASE_NAME == "coaching"


def test_schema_ids_are_well_formed_and_unique() -> None:
    schema = demo.demo_schema() + demo.hostile_schema()
    assert is_base_id(demo.DEMO_BASE_ID) and is_base_id(demo.HOSTILE_BASE_ID)
    ids: list[str] = []
    for table in schema:
        assert is_table_id(table["id"]) and ID_PATTERN.match(table["id"])
        ids.append(table["id"])
        for view in table["views"]:
            assert view["id"].startswith("viw") and ID_PATTERN.match(view["id"])
            ids.append(view["id"])
        for spec in table["fields"]:
            assert is_field_id(spec["id"]) and ID_PATTERN.match(spec["id"]), spec["id"]
            ids.append(spec["id"])
            for choice in (spec.get("options") or {}).get("choices", []):
                assert choice["id"].startswith("sel") and ID_PATTERN.match(choice["id"])
                ids.append(choice["id"])
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    for person in demo.DEMO_COLLABORATORS:
        assert is_user_id(person["id"]) and ID_PATTERN.match(person["id"])


def test_schema_parses_as_pyairtable_base_schema() -> None:
    for schema in (demo.demo_schema(), demo.hostile_schema()):
        parsed = BaseSchema.model_validate({"tables": schema})
        for table in parsed.tables:
            assert table.field(table.primary_field_id).id == table.fields[0].id  # the primary field comes first
            unknown = [f.name for f in table.fields if isinstance(f, UnknownFieldSchema)]
            assert unknown == [], f"pyairtable does not recognise {unknown} in {table.name}"


def test_schema_shapes_match_airtables_samples() -> None:
    for table, spec in all_fields(demo.demo_schema() + demo.hostile_schema()):
        assert set(table) <= {"id", "name", "description", "primaryFieldId", "fields", "views"}
        assert set(spec) <= {"id", "name", "type", "options", "description", "_sandbox"}, spec
        if spec["type"] in WITHOUT_OPTIONS:
            assert "options" not in spec, spec
        else:
            assert set(spec["options"]) == OPTION_KEYS[spec["type"]], spec
        for choice in (spec.get("options") or {}).get("choices", []):
            assert set(choice) == {"id", "name", "color"}
        result = (spec.get("options") or {}).get("result")
        if result is not None:
            assert set(result) <= {"type", "options"} and result["type"] in REQUIRED_TYPES


def test_option_keys_above_agree_with_the_sample_files() -> None:
    paths = list((SAMPLES / "field_schema").glob("*.json"))
    assert len(paths) > 20  # the samples ship in the repository: an empty glob would pass vacuously
    for path in paths:
        sample = json.loads(path.read_text())
        keys = set(sample.get("options", {}))
        if sample["type"] == "multipleRecordLinks":
            keys |= {"inverseLinkFieldId"}
        expected = OPTION_KEYS.get(sample["type"], set())
        assert keys == expected, f"{path.name}: {keys} vs {expected}"


def test_links_are_two_way_and_point_back() -> None:
    for schema in (demo.demo_schema(), demo.hostile_schema()):
        fields_by_id = {spec["id"]: (table, spec) for table, spec in all_fields(schema)}
        links = [(table, spec) for table, spec in all_fields(schema) if spec["type"] == "multipleRecordLinks"]
        assert links
        for table, spec in links:
            options = spec["options"]
            inverse_table, inverse = fields_by_id[options["inverseLinkFieldId"]]
            assert inverse_table["id"] == options["linkedTableId"] != table["id"]
            assert inverse["type"] == "multipleRecordLinks"
            assert inverse["options"]["inverseLinkFieldId"] == spec["id"]
            assert inverse["options"]["linkedTableId"] == table["id"]


def test_computed_fields_reference_real_fields() -> None:
    schema = demo.demo_schema()
    tables = {table["id"]: {spec["id"]: spec for spec in table["fields"]} for table in schema}
    for table, spec in all_fields(schema):
        options = spec.get("options") or {}
        own = tables[table["id"]]
        if spec["type"] == "formula":
            refs = re.findall(r"\{(fld[0-9A-Za-z]{14})\}", options["formula"])
            assert refs and set(refs) == set(options["referencedFieldIds"]) <= set(own)
            assert not re.search(r"\{(?!fld)", options["formula"]), "formulas reference fields by id only"
        if spec["type"] in {"multipleLookupValues", "rollup", "count"}:
            link = own[options["recordLinkFieldId"]]
            assert link["type"] == "multipleRecordLinks"
            if spec["type"] != "count":
                assert options["fieldIdInLinkedTable"] in tables[link["options"]["linkedTableId"]]
        if spec["type"] == "rollup":
            assert spec["_sandbox"]["rollup"] in {"SUM", "MAX", "MIN", "AVERAGE", "COUNTA", "ARRAYJOIN"}
        else:
            assert "_sandbox" not in spec


def test_schema_is_a_fresh_copy_each_call() -> None:
    first = demo.demo_schema()
    first[0]["fields"][3]["options"]["choices"].append({"id": "selAddedByTypecas", "name": "x", "color": "red"})
    first[0]["name"] = "changed"
    assert demo.demo_schema()[0]["name"] == "programs"
    assert len(demo.demo_schema()[0]["fields"][3]["options"]["choices"]) == len(demo.PROGRAM_STATUS)


# --------------------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------------------


def test_same_seed_gives_same_records_and_another_seed_does_not() -> None:
    first = list(demo.demo_records(1_000, seed=42))
    again = list(demo.demo_records(1_000, seed=42))
    other = list(demo.demo_records(1_000, seed=43))
    assert first == again
    assert {r.record_id for r in first}.isdisjoint({r.record_id for r in other})
    assert [r.cells for r in first] != [r.cells for r in other]


@pytest.mark.parametrize("total", [10, 1_000, 100_000])
def test_totals_are_exact_and_every_table_has_records(total: int) -> None:
    per_table = Counter(record.table_id for record in demo.demo_records(total))
    assert sum(per_table.values()) == total
    assert set(per_table) == set(demo.DEMO_TABLE_IDS.values())
    expected = demo.demo_table_counts(total)
    assert {demo.DEMO_TABLE_IDS[name]: n for name, n in expected.items()} == dict(per_table)


def test_table_shares_follow_the_app_and_tiny_totals_are_refused() -> None:
    counts = demo.demo_table_counts(100_000)
    assert counts["personal_goals"] > counts["persoonlijke_overtuigingen"] > counts["users"] > counts["methods"]
    assert counts["programs"] == 1_000
    with pytest.raises(ValueError, match="at least 6"):
        demo.demo_table_counts(5)


def test_records_stream_without_generating_everything_first() -> None:
    started = time.perf_counter()
    first = next(iter(demo.demo_records(1_000_000)))
    assert time.perf_counter() - started < 5.0  # generating all first takes ~40 s: far apart even under load
    assert first.table_id == demo.DEMO_TABLE_IDS["programs"]


def test_record_ids_are_well_formed_and_unique(records_10k: list[Any]) -> None:
    ids = [record.record_id for record in records_10k]
    assert all(is_record_id(i) and ID_PATTERN.match(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_links_reference_earlier_records_of_the_linked_table(records_10k: list[Any]) -> None:
    _assert_forward_links_only(demo.demo_schema(), records_10k)


def _assert_forward_links_only(schema: list[dict[str, Any]], records: list[Any]) -> None:
    """Parents come first, every link value is an already emitted record of the right table, and of each
    two-way pair only one side (the child's) ever carries values: the store derives the other."""
    links = {spec["id"]: spec for _, spec in all_fields(schema) if spec["type"] == "multipleRecordLinks"}
    seen: dict[str, dict[str, float]] = {table["id"]: {} for table in schema}
    used_links: set[str] = set()
    for record in records:
        for field_id, value in record.cells.items():
            if field_id not in links:
                continue
            used_links.add(field_id)
            linked_table = links[field_id]["options"]["linkedTableId"]
            for target in value:
                assert target in seen[linked_table], f"{record.record_id} links to unseen {target}"
                assert record.created_time >= seen[linked_table][target], "a child is not older than its parent"
        seen[record.table_id][record.record_id] = record.created_time
    assert used_links
    for field_id in used_links:
        assert links[field_id]["options"]["inverseLinkFieldId"] not in used_links


def test_only_stored_non_empty_cells_are_emitted(records_10k: list[Any]) -> None:
    _assert_stored_v1_cells(demo.demo_schema(), records_10k)


def _assert_stored_v1_cells(schema: list[dict[str, Any]], records: list[Any]) -> None:
    fields = {table["id"]: {spec["id"]: spec for spec in table["fields"]} for table in schema}
    for record in records:
        for field_id, value in record.cells.items():
            spec = fields[record.table_id][field_id]
            assert spec["type"] not in COMPUTED_TYPES, f"computed {spec['name']} carries a value"
            assert not _is_empty(value), f"empty {spec['name']} should be omitted"
            check = V1_CHECKS[spec["type"]]
            assert check(value, spec.get("options") or {}), f"{spec['name']} ({spec['type']}): {value!r}"


def _is_empty(value: Any) -> bool:
    """Airtable's empty cells (never stored, never returned); 0 is a value, not empty."""
    return value is None or value is False or (isinstance(value, str | list) and len(value) == 0)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_precision(value: Any, options: dict[str, Any]) -> bool:
    return _is_number(value) and round(value, options["precision"]) == value


def _is_date(value: Any, _: dict[str, Any]) -> bool:
    return isinstance(value, str) and bool(DATE_PATTERN.match(value)) and bool(date.fromisoformat(value))


def _is_datetime(value: Any, _: dict[str, Any]) -> bool:
    return isinstance(value, str) and bool(DATETIME_PATTERN.match(value)) and bool(datetime.fromisoformat(value))


def _choice_names(options: dict[str, Any]) -> set[str]:
    return {choice["name"] for choice in options["choices"]}


def _is_collaborator(value: Any, _: dict[str, Any] | None = None) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= set(CollaboratorDict.__annotations__)
        and is_user_id(value.get("id"))
        and value in list(demo.DEMO_COLLABORATORS)
    )


def _is_attachment(value: Any) -> bool:
    keys = set(value)
    thumbnails = value.get("thumbnails", {})
    return (
        keys >= AttachmentDict.__required_keys__ | {"filename", "size", "type", "width", "height", "thumbnails"}
        and keys <= set(AttachmentDict.__annotations__)
        and ID_PATTERN.match(value["id"]) is not None
        and value["id"].startswith("att")
        and value["url"].startswith("https://")
        and set(thumbnails) == {"small", "large", "full"}
        and all(set(thumb) == {"url", "width", "height"} for thumb in thumbnails.values())
    )


def _is_text(value: Any, _: dict[str, Any]) -> bool:
    return isinstance(value, str) and value != ""


V1_CHECKS: dict[str, Callable[[Any, dict[str, Any]], bool]] = {
    "singleLineText": lambda v, o: _is_text(v, o) and "\n" not in v,
    "multilineText": _is_text,
    "richText": _is_text,
    "phoneNumber": _is_text,
    "email": lambda v, _: isinstance(v, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", v) is not None,
    "url": lambda v, _: isinstance(v, str) and v.startswith("https://"),
    "checkbox": lambda v, _: v is True,
    "number": _has_precision,
    "currency": _has_precision,
    "percent": lambda v, _: _is_number(v) and 0 <= v <= 1,
    "duration": lambda v, _: isinstance(v, int) and v > 0,
    "rating": lambda v, o: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= o["max"],
    "date": _is_date,
    "dateTime": _is_datetime,
    "singleSelect": lambda v, o: v in _choice_names(o),
    "multipleSelects": lambda v, o: isinstance(v, list) and len(set(v)) == len(v) and set(v) <= _choice_names(o),
    "multipleRecordLinks": lambda v, _: isinstance(v, list) and all(is_record_id(i) for i in v),
    "multipleAttachments": lambda v, _: isinstance(v, list) and all(_is_attachment(a) for a in v),
    "singleCollaborator": _is_collaborator,
    "multipleCollaborators": lambda v, _: isinstance(v, list) and all(_is_collaborator(c) for c in v),
    "barcode": lambda v, _: isinstance(v, dict) and set(v) <= {"text", "type"} and bool(v.get("text")),
}


def test_times_lie_in_the_three_years_before_the_reference(records_10k: list[Any]) -> None:
    for record in records_10k:
        assert REFERENCE - THREE_YEARS <= record.created_time <= record.last_modified_time <= REFERENCE
        assert record.created_time == round(record.created_time, 3)  # Airtable keeps milliseconds
    users = [r.created_time for r in records_10k if r.table_id == demo.DEMO_TABLE_IDS["users"]]
    last_year = sum(1 for t in users if t > REFERENCE - 365 * 86_400)
    first_year = sum(1 for t in users if t < REFERENCE - 2 * 365 * 86_400)
    assert last_year > 2 * first_year, "recent sign-ups should be more frequent (the app grows)"
    assert any(r.last_modified_time > r.created_time for r in records_10k)
    assert any(r.last_modified_time == r.created_time for r in records_10k)


def test_cells_are_sparse_like_a_real_base(records_10k: list[Any]) -> None:
    users = [r for r in records_10k if r.table_id == demo.DEMO_TABLE_IDS["users"]]
    for name in ("phone", "avatar", "coach", "member_card", "last_login", "website", "active"):
        share = sum(1 for u in users if demo.USER_FIELDS[name] in u.cells) / len(users)
        assert 0.02 < share < 0.98, f"users.{name} present in {share:.0%} of users"
    emails = [u.cells[demo.USER_FIELDS["email"]] for u in users]
    assert len(set(emails)) == len(emails), "emails identify users"
    names = Counter(u.cells[demo.USER_FIELDS["name"]] for u in users)
    assert max(names.values()) > 1, "display names repeat, as they do in real bases"


def test_goal_inputs_make_the_error_formulas_fire(records_10k: list[Any]) -> None:
    f = demo.GOAL_FIELDS
    goals = [r.cells for r in records_10k if r.table_id == demo.DEMO_TABLE_IDS["personal_goals"]]
    division_by_zero = [g for g in goals if g[f["target_minutes"]] == 0 and g[f["minutes_practiced"]] > 0]
    zero_by_zero = [g for g in goals if g[f["target_minutes"]] == 0 and g[f["minutes_practiced"]] == 0]
    assert division_by_zero and zero_by_zero
    assert any(f["deadline"] not in g for g in goals) and any(f["deadline"] in g for g in goals)
    programs = [r.cells for r in records_10k if r.table_id == demo.DEMO_TABLE_IDS["programs"]]
    assert any(p[demo.PROGRAM_FIELDS["duration_weeks"]] == 0 for p in programs)


def test_formulas_evaluate_to_values_and_error_values(records_10k: list[Any]) -> None:
    """The formula engine (formula.py) evaluates the demo formulas on the demo data: plain values for most
    records, Airtable's error values for some."""
    formula = pytest.importorskip("airtable_sandbox.formula")
    schema = demo.demo_schema()
    outcomes: dict[str, Counter[str]] = {}
    for table, spec in all_fields(schema):
        if spec["type"] != "formula":
            continue
        parsed = formula.parse(spec["options"]["formula"])
        names = {field["name"]: field["id"] for field in table["fields"]}
        tally: Counter[str] = Counter()
        for record in (r for r in records_10k if r.table_id == table["id"]):
            cell = formula.to_cell_value(parsed.evaluate(_SeedContext(record, names), datetime.now(UTC)))
            tally[json.dumps(cell, sort_keys=True) if isinstance(cell, dict) else type(cell).__name__] += 1
        outcomes[spec["name"]] = tally
    assert outcomes["progress"]['{"error": "#DIV/0!"}'] and outcomes["progress"]['{"specialValue": "NaN"}']
    assert outcomes["progress"]["float"] + outcomes["progress"]["int"] > 0
    assert outcomes["days_to_deadline"]['{"error": "#ERROR!"}'] and outcomes["days_to_deadline"]["int"]
    assert outcomes["price_per_week"]['{"error": "#DIV/0!"}']
    assert outcomes["full_name"]["str"] == sum(outcomes["full_name"].values())


@dataclass
class _SeedContext:
    """formula.RecordContext over a seed record (its formulas reference stored fields only)."""

    seed: Any
    field_ids: dict[str, str]

    @property
    def record_id(self) -> str:
        return self.seed.record_id

    @property
    def created_time(self) -> datetime:
        return datetime.fromtimestamp(self.seed.created_time, tz=UTC)

    @property
    def last_modified_time(self) -> datetime:
        return datetime.fromtimestamp(self.seed.last_modified_time, tz=UTC)

    def cell(self, field_ref: str) -> Any:
        return self.seed.cells.get(self.field_ids.get(field_ref, field_ref))


# --------------------------------------------------------------------------------------------------------------------
# Hostile base
# --------------------------------------------------------------------------------------------------------------------


def _naive_slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def test_hostile_names_are_all_there() -> None:
    schema = demo.hostile_schema()
    table_names = [table["name"] for table in schema]
    assert "Robert'); DROP TABLE students;--" in table_names and "Überzeugung ✓ 信念" in table_names
    names = [spec["name"] for _, spec in all_fields(schema)]
    assert {"Full Name", "full_name", "Full-Name", "id", "fields", "deleted_at"} <= set(names)
    assert any(len(name) == 255 and len(name.encode()) > 255 for name in names)
    assert any('"' in name and "'" in name and ";" in name for name in names)
    assert any(name[:1].isspace() and any(c.isdigit() for c in name[:6]) for name in names)
    assert any(not name.isascii() for name in names)
    students = next(t for t in schema if t["id"] == demo.HOSTILE_TABLE_IDS["students"])
    slugs = Counter(_naive_slug(spec["name"]) for spec in students["fields"])
    assert slugs["full_name"] >= 3, "several field names must slug to the same column name"
    for table in schema:
        field_names = [spec["name"] for spec in table["fields"]]
        assert len(field_names) == len(set(field_names)), "Airtable field names are unique per table"
    types_used = {spec["type"] for _, spec in all_fields(schema)}
    assert {"singleLineText", "number", "multipleRecordLinks", "singleSelect"} <= types_used


def test_hostile_records_are_deterministic_valid_and_linked() -> None:
    records = list(demo.hostile_records())
    assert records == list(demo.hostile_records(seed=7))
    assert [r.record_id for r in records] != [r.record_id for r in demo.hostile_records(seed=8)]
    assert 15 <= len(records) <= 30
    assert all(is_record_id(r.record_id) for r in records)
    assert {r.table_id for r in records} == set(demo.HOSTILE_TABLE_IDS.values())
    schema = demo.hostile_schema()
    _assert_forward_links_only(schema, records)
    _assert_stored_v1_cells(schema, records)
    long_name_id = demo.HOSTILE_STUDENT_FIELDS[demo.LONG_NAME]
    assert all(long_name_id in r.cells for r in records if r.table_id == demo.HOSTILE_TABLE_IDS["students"])


# --------------------------------------------------------------------------------------------------------------------
# Scale
# --------------------------------------------------------------------------------------------------------------------


# How fast a million demo records are generated is measured in benchmarks/sandbox_scale.py, not timed here; that a
# million are generated and fit in memory is test_sandbox_memory.py's.
