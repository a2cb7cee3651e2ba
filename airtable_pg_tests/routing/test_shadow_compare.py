"""What a shadow read may see differ without it being a mismatch, and what is one: no false positives from order,
emptiness, expiring URLs or float noise; every real difference found."""

from __future__ import annotations

from dataclasses import replace

from airtable_pg.routing.shadow_compare import compare_records
from airtable_pg.spec import load_spec

SPEC = load_spec()
USERS = SPEC.bases["coaching"].tables["users"]
GOALS = SPEC.bases["coaching"].tables["personal_goals"]


def record(record_id: str, **fields) -> dict:
    return {"id": record_id, "createdTime": "2026-11-01T10:00:00.000Z", "fields": fields}


def field_id(table, name: str) -> str:
    return next(f.id for f in table.fields.values() if f.name == name)


def test_equal_answers_in_another_order_with_empties_spelled_differently_match() -> None:
    airtable = [
        record("rec1", name="Anna", goal_count=2, personal_goals=["recB", "recA"]),
        record("rec2", name="Bo", notes="", goal_count=0.30000000000000004),
    ]
    postgres = [
        record("rec2", name="Bo", goal_count=0.3, onboarded=False),  # absent "" and false: all empty
        record("rec1", name="Anna", goal_count=2.0, personal_goals=["recA", "recB"]),  # links: a set
    ]
    result = compare_records(USERS, airtable, postgres, ordered=False)
    assert result.matched, result.mismatches
    assert result.records == 2


def test_every_real_difference_is_named_by_record_and_field() -> None:
    airtable = [record("rec1", name="Anna", goal_count=2), record("rec2", name="Bo"), record("rec3", name="Cy")]
    postgres = [record("rec1", name="Anna ", goal_count="2"), record("rec2", name="Bo"), record("rec4", name="Di")]
    result = compare_records(USERS, airtable, postgres, ordered=False)
    found = {(m.record_id, m.field_id) for m in result.mismatches}
    name, count = field_id(USERS, "name"), field_id(USERS, "goal_count")
    # a trailing space, a number answered as text (a client would see it), and a record on one side only
    assert found == {("rec1", name), ("rec1", count), ("rec3", None), ("rec4", None)}
    assert result.record_ids() == ["rec1", "rec3", "rec4"]


def test_a_sorted_request_promises_its_order_and_an_unsorted_one_does_not() -> None:
    airtable = [record("rec1", name="A"), record("rec2", name="B")]
    postgres = list(reversed(airtable))
    assert compare_records(USERS, airtable, postgres, ordered=False).matched
    [out_of_order] = compare_records(USERS, airtable, postgres, ordered=True).mismatches
    assert out_of_order.record_id == "rec1" and out_of_order.field_id is None


def test_attachments_compare_without_their_expiring_urls_and_by_field_id_too() -> None:
    evidence = field_id(GOALS, "evidence")
    photo = {"id": "attA", "filename": "a.png", "size": 10, "type": "image/png"}
    airtable = [record("rec1", **{evidence: [{**photo, "url": "https://dl.airtable.com/x?expires=1"}]})]
    postgres = [record("rec1", **{evidence: [{**photo, "url": "https://mirror.example/att/attA"}]})]
    assert compare_records(GOALS, airtable, postgres, ordered=False).matched
    resized = [record("rec1", **{evidence: [{**photo, "size": 11, "url": "x"}]})]
    [changed] = compare_records(GOALS, airtable, resized, ordered=False).mismatches
    assert changed.field_id == evidence


def test_cells_that_read_the_clock_are_left_out_and_said_so() -> None:
    full_name = USERS.fields[field_id(USERS, "full_name")]
    reads_the_clock = replace(full_name, changes_with=frozenset({"time"}))
    clocked = replace(USERS, fields={**USERS.fields, full_name.id: reads_the_clock})
    airtable, postgres = [record("rec1", full_name="x 10:00")], [record("rec1", full_name="x 10:01")]
    assert not compare_records(USERS, airtable, postgres, ordered=False).matched
    result = compare_records(clocked, airtable, postgres, ordered=False)
    assert result.matched and full_name.id in result.ignored_fields
