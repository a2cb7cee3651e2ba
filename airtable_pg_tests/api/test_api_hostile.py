"""Hostile names: tables and fields named with quotes, semicolons, SQL, slashes, emoji and 255 characters are served
by name and by id exactly as the sandbox serves them, in URLs, ``fields[]``, ``sort`` and formulas."""

from __future__ import annotations

import pytest
from pyairtable.formulas import Field

from airtable_pg_tests.api import compare
from airtable_pg_tests.api.compare import normalized, outcome
from airtable_pg_tests.api.conftest import Served
from airtable_sandbox.demo import HOSTILE_BASE_ID, hostile_schema

TABLES = {table["name"]: table for table in hostile_schema()}
STUDENTS = "Robert'); DROP TABLE students;--"
BELIEFS = "Überzeugung ✓ 信念"


def assert_same(served: Served, table: str, sort: list[str] | None = None, **options: object) -> dict:
    return compare.assert_same(served, HOSTILE_BASE_ID, table, sort, **options)


@pytest.mark.parametrize("table", [STUDENTS, BELIEFS])
def test_whole_tables_by_name_and_by_id(hostile_served: Served, table: str) -> None:
    answer = assert_same(hostile_served, table)
    assert answer["records"]
    assert_same(hostile_served, table, use_field_ids=True)
    by_id = outcome(hostile_served.mirror(), HOSTILE_BASE_ID, TABLES[table]["id"])
    assert normalized(by_id, None) == normalized(answer, None)


@pytest.mark.parametrize("field", [f["name"] for f in TABLES[STUDENTS]["fields"]])
def test_every_hostile_field_in_fields_sort_and_formula(hostile_served: Served, field: str) -> None:
    assert_same(hostile_served, STUDENTS, fields=[field])
    assert_same(hostile_served, STUDENTS, sort=[field])
    assert_same(hostile_served, STUDENTS, formula=f"{Field(field)}")
    assert_same(hostile_served, STUDENTS, formula=f"LEN({Field(field)} & '') > 3")
    assert_same(hostile_served, STUDENTS, formula=f'{Field(field)} = "Robert\'); DROP TABLE students;--"')


def test_a_field_whose_name_is_sql(hostile_served: Served) -> None:
    assert_same(hostile_served, BELIEFS, formula=f"{Field(STUDENTS)}", fields=[STUDENTS, "信念"])
