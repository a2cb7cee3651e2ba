"""Record → mirror row: typed values per column type, errors and misfits as counted NULLs, ``fields`` untouched."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.airtable.escaping import ESCAPED_KEY, unescape_fields
from airtable_pg.airtable.types import pg_type_for
from airtable_pg.spec import parse_spec


def spec_table():
    fields = {
        "fldText0000000001": {"type": "singleLineText", "column": "name", "pg_type": "text"},
        "fldNumber00000001": {"type": "number", "column": "score", "pg_type": "numeric"},
        "fldAuto0000000001": {"type": "autoNumber", "column": "number", "pg_type": "bigint"},
        "fldRating00000001": {"type": "rating", "column": "stars", "pg_type": "integer"},
        "fldCheck000000001": {"type": "checkbox", "column": "active", "pg_type": "boolean"},
        "fldFormulaBool001": {"type": "formula", "column": "is_late", "pg_type": "boolean"},
        "fldDate0000000001": {"type": "date", "column": "due", "pg_type": "date"},
        "fldWhen0000000001": {"type": "dateTime", "column": "starts_at", "pg_type": "timestamptz"},
        "fldModified000001": {"type": "lastModifiedTime", "column": "modified", "pg_type": "timestamptz"},
        "fldTags0000000001": {"type": "multipleSelects", "column": "tags", "pg_type": "text[]"},
        "fldLinks000000001": {
            "type": "multipleRecordLinks",
            "column": "team",
            "pg_type": "text[]",
            "linked_table": "tblTeams000000001",
            "lineage": False,
        },
        "fldFiles000000001": {"type": "multipleAttachments", "column": "files", "pg_type": "jsonb"},
        "fldRatio000000001": {"type": "formula", "column": "ratio", "pg_type": "numeric"},
    }
    raw = {"bases": {"b": {"id": "appBase0000000001", "tables": {"t": {"id": "tblTable000000001", "fields": fields}}}}}
    return parse_spec(raw).bases["b"].tables["t"]


TABLE = spec_table()


def convert_cell(pg_type: str, value, airtable_type: str = "formula"):
    """``(column value, is_error)`` for one cell of a field (a formula unless said) typed ``pg_type``."""
    fields = {"fldValue000000001": {"type": airtable_type, "column": "value", "pg_type": pg_type}}
    raw = {"bases": {"b": {"id": "appBase0000000001", "tables": {"t": {"id": "tblTable000000001", "fields": fields}}}}}
    table = parse_spec(raw).bases["b"].tables["t"]
    row, errors = RecordConverter(table).row({"id": "rec00000000000001", "fields": {"fldValue000000001": value}})
    return row.columns["value"], errors == 1


CONVERTER = RecordConverter(TABLE)
FILES = [{"id": "att00000000000001", "url": "https://x.example/a.png", "filename": "a.png", "size": 3}]


def record(**cells):
    by_column = {f.column: f.id for f in TABLE.fields.values()}
    return {
        "id": "rec00000000000001",
        "createdTime": "2024-01-02T03:04:05.678Z",
        "fields": {by_column[name]: value for name, value in cells.items()},
    }


def test_every_column_type_gets_its_python_value():
    row, errors = CONVERTER.row(
        record(
            name="Ann",
            score=0.1,
            number=7,
            stars=4,
            active=True,
            is_late=1,
            due="2024-02-29",
            starts_at="2024-03-01T07:00:00.000Z",
            modified="2024-03-02T08:00:00.000Z",
            tags=["a", "b"],
            team=["recTeam0000000001", "recTeam0000000002"],
            files=FILES,
            ratio=3,
        )
    )
    assert errors == 0
    assert row.columns == {
        "name": "Ann",
        "score": Decimal("0.1"),  # the decimal Airtable showed, not 0.1000000000000000055…
        "number": 7,
        "stars": 4,
        "active": True,
        "is_late": True,
        "due": date(2024, 2, 29),
        "starts_at": datetime(2024, 3, 1, 7, tzinfo=UTC),
        "modified": datetime(2024, 3, 2, 8, tzinfo=UTC),
        "tags": ["a", "b"],
        "team": ["recTeam0000000001", "recTeam0000000002"],
        "files": FILES,
        "ratio": Decimal(3),
    }
    assert type(row.columns["score"]) is Decimal and row.columns["starts_at"].utcoffset() == timedelta(0)
    assert row.links == {"fldLinks000000001": ["recTeam0000000001", "recTeam0000000002"]}
    assert row.created_time == datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert row.modified_time == datetime(2024, 3, 2, 8, tzinfo=UTC)


def test_absent_cells_are_null_except_an_unchecked_checkbox():
    row, errors = CONVERTER.row(record())
    assert errors == 0
    assert row.columns["active"] is False  # Airtable omits unchecked checkboxes
    assert row.columns["is_late"] is None  # a boolean formula's absence is not a "false"
    assert all(value is None for column, value in row.columns.items() if column != "active")
    assert row.links == {"fldLinks000000001": []} and row.fields == {}


@pytest.mark.parametrize(
    "cells",
    [
        {"score": {"specialValue": "NaN"}},
        {"ratio": {"error": "#DIV/0!"}},
        {"score": "12 apples"},  # text in a numeric column
        {"stars": 2**31},  # too big for integer
        {"number": 1.5},  # not a whole number
        {"active": "yes"},
        {"due": "2024-02-30"},
        {"starts_at": "2024-03-01T07:00:00"},  # no zone: never guessed
        {"tags": ["a", {"id": "sel1", "name": "b"}]},
        {"name": ["a list"]},
        {"name": "nul\x00byte"},  # Postgres cannot hold it: stored escaped in fields
        {"tags": ["a", "b\x00"]},
        {"files": [FILES[0] | {"filename": "a\x00.png"}]},  # a jsonb column cannot hold it either
        {"files": {"error": "#ERROR!"}},
    ],
)
def test_errors_and_misfits_become_counted_nulls_and_fields_keep_them(cells):
    source = record(**cells)
    row, errors = CONVERTER.row(source)
    (column,) = cells
    assert errors == 1 and row.columns[column] is None
    assert unescape_fields(row.fields) == source["fields"]  # lossless whatever the column made of it


def test_a_page_sums_errors_and_sorts_rows_by_record_id():
    second = record(name="B", stars=10.0) | {"id": "rec00000000000002"}
    page = CONVERTER.page([second, record(score={"specialValue": "Infinity"})])
    assert page.cell_errors == 1
    assert [(row.airtable_id, row.columns["stars"]) for row in page.rows] == [
        ("rec00000000000001", None),
        ("rec00000000000002", 10),
    ]


def test_convert_cell_other_zones_and_whole_floats():
    moment, error = convert_cell("timestamptz", "2024-03-01T09:00:00+02:00")
    assert not error and moment == datetime(2024, 3, 1, 7, tzinfo=UTC)
    assert moment.tzinfo == timezone(timedelta(hours=2))
    assert convert_cell("bigint", 3.0) == (3, False)
    assert convert_cell("text", 42) == ("42", False)
    assert convert_cell("boolean", 2) == (None, True)
    assert convert_cell("jsonb", [{"error": "#ERROR!"}]) == ([{"error": "#ERROR!"}], False)  # a lookup's list


def test_date_results_of_formulas_arrive_as_timestamps_and_still_fill_date_columns():
    assert convert_cell("date", "2024-03-01T00:00:00.000Z") == (date(2024, 3, 1), False)
    assert convert_cell("date", "2024-03-01") == (date(2024, 3, 1), False)
    assert convert_cell("date", "2024-03-01T10:00:00") == (None, True)  # no zone: never guessed
    assert convert_cell("date", "next tuesday") == (None, True)


def test_only_cells_postgres_cannot_hold_are_escaped_each_counted_once():
    source = record(name="nul\x00byte", score=1, team=["recTeam0000000001"]) | {"id": "rec00000000000009"}
    source["fields"] |= {"fldNotInTheSpec01": {"text": "x\x00"}, "fldNotInTheSpec02": "plain"}
    row, errors = CONVERTER.row(source)
    assert errors == 2  # the name and the field the spec does not map
    assert {fid for fid, cell in row.fields.items() if type(cell) is dict and ESCAPED_KEY in cell} == {
        "fldText0000000001",
        "fldNotInTheSpec01",
    }
    assert row.fields["fldNotInTheSpec02"] == "plain" and row.columns["score"] == Decimal(1)
    assert unescape_fields(row.fields) == source["fields"]


def test_a_record_without_unstorable_cells_keeps_its_own_cells_dict():
    source = record(name="Ann", files=FILES)
    row, _ = CONVERTER.row(source)
    assert row.fields is source["fields"]  # no copy on the hot path


AI_ERROR = {"state": "error", "errorType": "modelError", "isStale": False, "value": None}
AI_TEXT = {"state": "generated", "isStale": False, "value": "A summary."}


def test_an_ai_text_cell_in_its_error_state_is_a_cell_error_like_a_formula_error():
    for pg_type in ("jsonb", "text"):
        assert convert_cell(pg_type, AI_ERROR, airtable_type="aiText") == (None, True)
    assert convert_cell("jsonb", AI_TEXT, airtable_type="aiText") == (AI_TEXT, False)
    assert convert_cell("jsonb", AI_ERROR, airtable_type="formula") == (AI_ERROR, False)  # only aiText has states


def test_an_external_sync_source_is_text():
    assert pg_type_for("externalSyncSource", None) == "text"
    assert convert_cell("text", "Salesforce sync", airtable_type="externalSyncSource") == ("Salesforce sync", False)
