"""What can move a computed cell without its record changing, read from Airtable's field metadata: the refresh of
computed cells is skipped on this answer, so a dependency it missed would leave cells stale."""

from __future__ import annotations

import pytest

from airtable_pg.airtable.computed_dependencies import changes_with
from airtable_pg.spec import SpecError, load_spec, parse_spec, spec_to_dict
from airtable_sandbox.demo import demo_schema

USERS, GOALS, TEAMS = "tblUsers000000001", "tblGoals000000001", "tblTeams000000001"


def field(field_id: str, kind: str, **options) -> dict:
    return {"id": field_id, "name": field_id, "type": kind, "options": options or None}


def formula(field_id: str, text: str, *referenced: str) -> dict:
    return field(field_id, "formula", formula=text, isValid=True, referencedFieldIds=list(referenced))


def base(*tables: tuple[str, list[dict]]) -> list[dict]:
    return [{"id": table_id, "name": table_id, "fields": fields} for table_id, fields in tables]


LINKS = [
    field("fldUserGoals00000", "multipleRecordLinks", linkedTableId=GOALS),
    field("fldUserTeam000000", "multipleRecordLinks", linkedTableId=TEAMS),
]


def test_own_cells_only_need_no_refresh_and_a_link_or_lookup_reads_the_linked_table() -> None:
    tables = base(
        (USERS, [
            field("fldName0000000000", "singleLineText"),
            *LINKS,
            formula("fldShout000000000", "UPPER({fldName0000000000}) & CREATED_TIME()", "fldName0000000000"),
            formula("fldGoalNames00000", "{fldUserGoals00000}", "fldUserGoals00000"),  # the goals' names
            field("fldGoalCount00000", "count", isValid=True, recordLinkFieldId="fldUserGoals00000"),
            field("fldTeamName000000", "multipleLookupValues", isValid=True, recordLinkFieldId="fldUserTeam000000",
                  fieldIdInLinkedTable="fldTeamTitle00000"),
            formula("fldTeamShout00000", "UPPER({fldTeamName000000})", "fldTeamName000000"),
        ]),
        (GOALS, [field("fldGoalTitle00000", "singleLineText")]),
        (TEAMS, [field("fldTeamTitle00000", "singleLineText")]),
    )  # fmt: skip
    found = changes_with(tables)
    assert found["fldShout000000000"] == frozenset()
    assert found["fldGoalNames00000"] == {GOALS}
    assert found["fldGoalCount00000"] == {GOALS}
    assert found["fldTeamName000000"] == {TEAMS}
    assert found["fldTeamShout00000"] == {TEAMS}  # a formula over a lookup reads what the lookup reads
    assert "fldName0000000000" not in found  # typed cells are not computed


def test_a_lookup_of_a_lookup_reads_both_tables_and_the_clock_is_a_dependency() -> None:
    tables = base(
        (USERS, [
            *LINKS,
            field("fldGoalTeams00000", "rollup", isValid=True, recordLinkFieldId="fldUserGoals00000",
                  fieldIdInLinkedTable="fldGoalTeam000000", referencedFieldIds=["fldGoalTeam000000"]),
            formula("fldAge00000000000", "DATETIME_DIFF(NOW(), CREATED_TIME(), 'days')"),
            formula("fldQuoted00000000", "'NOW()' & \"TODAY( )\""),  # text, not a call
            formula("fldLower000000000", "IF(today ( ) > 0, 1)"),  # Airtable's names are case-insensitive
        ]),
        (GOALS, [
            field("fldGoalTeamLink00", "multipleRecordLinks", linkedTableId=TEAMS),
            field("fldGoalTeam000000", "multipleLookupValues", isValid=True, recordLinkFieldId="fldGoalTeamLink00",
                  fieldIdInLinkedTable="fldTeamTitle00000"),
        ]),
        (TEAMS, [field("fldTeamTitle00000", "singleLineText")]),
    )  # fmt: skip
    found = changes_with(tables)
    assert found["fldGoalTeams00000"] == {GOALS, TEAMS}
    assert found["fldAge00000000000"] == {"time"}
    assert found["fldQuoted00000000"] == frozenset()
    assert found["fldLower000000000"] == {"time"}


def test_what_cannot_be_followed_is_not_known() -> None:
    tables = base(
        (USERS, [
            *LINKS,
            field("fldBroken00000000", "formula", formula="{x}", isValid=False, referencedFieldIds=[]),
            formula("fldOnBroken000000", "{fldBroken00000000}", "fldBroken00000000"),
            field("fldElsewhere00000", "multipleLookupValues", isValid=True, recordLinkFieldId="fldNotHere0000000",
                  fieldIdInLinkedTable="fldTeamTitle00000"),
            field("fldNoOptions00000", "rollup"),
        ]),
    )  # fmt: skip
    found = changes_with(tables)
    assert found == dict.fromkeys(["fldBroken00000000", "fldOnBroken000000", "fldElsewhere00000", "fldNoOptions00000"])


def test_the_demo_spec_says_what_the_demo_base_says() -> None:
    """The shipped spec was pulled with ``changes_with``; it matches the sandbox's metadata (else `spec pull`)."""
    found = changes_with(demo_schema())
    spec = load_spec()
    for _, table in spec.tables():
        for field_spec in table.fields.values():
            if field_spec.id in found:
                assert field_spec.changes_with == found[field_spec.id], field_spec.name
    users = spec.bases["coaching"].tables["users"]
    assert users.computed_changes_with == {spec.bases["coaching"].tables["personal_goals"].id}


def test_the_spec_keeps_changes_with_and_refuses_it_where_it_means_nothing() -> None:
    spec = load_spec()
    raw = spec_to_dict(spec)
    assert parse_spec(raw, spec.path) == spec  # round trip
    users = raw["bases"]["coaching"]["tables"]["users"]["fields"]
    users["fldUsrEmail000000"]["changes_with"] = ["time"]
    with pytest.raises(SpecError, match="changes_with belongs to count, formula, multipleLookupValues, rollup"):
        parse_spec(raw, spec.path)
    del users["fldUsrEmail000000"]["changes_with"]
    users["fldUsrFullName000"]["changes_with"] = ["users"]
    with pytest.raises(SpecError, match="changes_with must list table ids"):
        parse_spec(raw, spec.path)


def test_a_formula_that_now_reads_the_clock_is_schema_drift_with_spec_pull_as_remedy() -> None:
    """A refresh is skipped on the spec's word, so the drift gate fails when Airtable's answer moved on."""
    from airtable_pg.checks.drift import airtable_vs_spec

    spec = load_spec()
    users = spec.bases["coaching"].tables["users"]
    raw_users = next(t for t in demo_schema() if t["id"] == users.id)
    airtable = {f["id"]: f for f in raw_users["fields"]}
    found = changes_with(demo_schema())
    assert airtable_vs_spec(users, airtable, found) == []
    clock = {**found, "fldUsrFullName000": frozenset({"time"})}
    [drift] = airtable_vs_spec(users, airtable, clock)
    assert drift.kind == "dependencies" and drift.field == "fldUsrFullName000"
    assert "changes with ['time'], the spec says []" in drift.message
