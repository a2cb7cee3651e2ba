"""The sandbox's formula engine: what filterByFormula and formula fields compute for a record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pyairtable.formulas import (
    AND,
    CREATED_TIME,
    EQ,
    IS_AFTER,
    IS_BEFORE,
    LAST_MODIFIED_TIME,
    NOT,
    OR,
    RECORD_ID,
    Field,
    match,
    to_formula_str,
)

from airtable_sandbox.formula import ErrorValue, FormulaError, parse, to_cell_value

NOW = datetime(2024, 3, 10, 15, 30, 45, 123000, tzinfo=UTC)


@dataclass
class Record:
    """A record as the store hands it to the engine; counts cell reads to prove laziness."""

    cells: dict[str, Any] = field(default_factory=dict)
    record_id: str = "recAAAAAAAAAAAAAA"
    created_time: datetime = datetime(2024, 1, 5, 8, 0, tzinfo=UTC)
    last_modified_time: datetime = datetime(2024, 2, 1, 12, 0, tzinfo=UTC)
    reads: list[str] = field(default_factory=list)

    def cell(self, field_ref: str) -> Any:
        self.reads.append(field_ref)
        if field_ref not in self.cells:
            raise FormulaError(f"Unknown field name: {field_ref!r}")
        return self.cells[field_ref]


def evaluate(source: str, **cells: Any) -> Any:
    return parse(source).evaluate(Record(cells), NOW)


def cell_result(source: str, **cells: Any) -> Any:
    return to_cell_value(evaluate(source, **cells))


# -- formulas as pyairtable writes them ---------------------------------------------------------


def test_poll_formula_selects_records_modified_after_the_watermark_without_reading_cells() -> None:
    formula = parse(str(IS_AFTER(LAST_MODIFIED_TIME(), datetime(2024, 1, 31, 23, 59, tzinfo=UTC))))
    changed = Record(last_modified_time=datetime(2024, 2, 1, tzinfo=UTC))
    unchanged = Record(last_modified_time=datetime(2024, 1, 31, 23, 59, tzinfo=UTC))

    assert formula.matches(changed, NOW)
    assert not formula.matches(unchanged, NOW)  # strictly after
    assert changed.reads == [] and unchanged.reads == []
    assert formula.field_refs == frozenset()


def test_window_formula_with_naive_datetimes_reads_them_as_utc() -> None:
    source = str(
        AND(
            IS_AFTER(LAST_MODIFIED_TIME(), datetime(2024, 1, 1)),
            IS_BEFORE(CREATED_TIME(), datetime(2024, 1, 5, 8, 0, 1)),
        )
    )
    assert "DATETIME_PARSE('2024-01-01T00:00:00.000')" in source
    assert parse(source).matches(Record(), NOW)
    assert not parse(source).matches(Record(created_time=datetime(2024, 1, 5, 8, 0, 1, tzinfo=UTC)), NOW)


def test_match_with_operators_and_field_names() -> None:
    formula = parse(str(match({"Name": "x", "Age": (">=", 3)})))
    assert formula.field_refs == {"Name", "Age"}
    assert formula.matches(Record({"Name": "x", "Age": 3}), NOW)
    assert not formula.matches(Record({"Name": "x", "Age": 2}), NOW)
    assert not formula.matches(Record({"Name": "X", "Age": 9}), NOW)  # text equality is exact
    assert not formula.matches(Record({"Name": "x", "Age": None}), NOW)  # blank number is 0


def test_or_over_hundreds_of_record_ids() -> None:
    ids = [f"rec{index:014d}" for index in range(499)]
    formula = parse(str(OR(*[RECORD_ID().eq(record_id) for record_id in ids])))
    assert formula.matches(Record(record_id=ids[0]), NOW)
    assert formula.matches(Record(record_id=ids[-1]), NOW)
    assert not formula.matches(Record(record_id="recZZZZZZZZZZZZZZ"), NOW)


def test_or_of_text_equalities_keeps_equality_semantics_for_non_text_values() -> None:
    formula = parse("OR({Age}='5', {Age}='6', {Name}='x')")
    assert formula.matches(Record({"Age": 6, "Name": "y"}), NOW)  # number against text compares as numbers
    assert formula.matches(Record({"Age": None, "Name": "x"}), NOW)
    assert not formula.matches(Record({"Age": 7, "Name": "y"}), NOW)
    assert parse("OR({Age}='', {Age}='x')").matches(Record({"Age": None}), NOW)  # blank equals ""


def test_field_names_with_braces_quotes_and_backslashes() -> None:
    formula = parse(str(AND(EQ(Field("a}b"), "it's"), EQ(Field("Guest's Name"), "back\\slash"))))
    assert formula.field_refs == {"a}b", "Guest's Name"}
    assert formula.matches(Record({"a}b": "it's", "Guest's Name": "back\\slash"}), NOW)
    assert not formula.matches(Record({"a}b": "its", "Guest's Name": "back\\slash"}), NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (3, 3),
        (3.5, 3.5),
        ('Jane\'s "quoted"', 'Jane\'s "quoted"'),
        (date(2023, 12, 1), datetime(2023, 12, 1, tzinfo=UTC)),
        (datetime(2023, 12, 1, 12, 34, 56, tzinfo=UTC), datetime(2023, 12, 1, 12, 34, 56, tzinfo=UTC)),
    ],
)
def test_pyairtable_literals_round_trip(value: Any, expected: Any) -> None:
    assert evaluate(to_formula_str(value)) == expected


def test_not_of_a_comparison() -> None:
    formula = parse(str(NOT(EQ(Field("Status"), "Done"))))
    assert formula.matches(Record({"Status": "Todo"}), NOW)
    assert formula.matches(Record({"Status": None}), NOW)
    assert not formula.matches(Record({"Status": "Done"}), NOW)


def test_field_ids_are_references_too() -> None:
    formula = parse("{fldgstMCbpPNgbXBN} & '-' & {Name}")
    assert formula.field_refs == {"fldgstMCbpPNgbXBN", "Name"}
    assert formula.evaluate(Record({"fldgstMCbpPNgbXBN": "a", "Name": "b"}), NOW) == "a-b"


def test_a_reference_to_a_missing_field_is_the_callers_error_not_a_value() -> None:
    with pytest.raises(FormulaError, match="Unknown field"):
        parse("{Nope} = 1").evaluate(Record(), NOW)


# -- laziness -----------------------------------------------------------------------------------


def test_only_the_branch_taken_reads_its_cells() -> None:
    record = Record({"Flag": True, "A": "a", "B": "b"})
    assert parse("IF({Flag}, {A}, {B})").evaluate(record, NOW) == "a"
    assert record.reads == ["Flag", "A"]


def test_and_or_stop_at_the_first_deciding_operand() -> None:
    record = Record({"A": 0, "B": 1})
    assert not parse("AND({A}, {B})").matches(record, NOW)
    assert parse("OR({B}, {A})").matches(record, NOW)
    assert record.reads == ["A", "B"]


# -- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("12 / 4 / 3", 1.0),
        ("-2 * 3", -6),
        ("2 & 3 + 4", "27"),
        ("1 + 1 = 2", True),
        ("'a' & 'b' = 'ab'", True),
        ("1 < 2 = TRUE()", True),
        ("6 / 4", 1.5),
        ("1e3 + .5", 1000.5),
        ("'line\\nbreak'", "line\nbreak"),
        ('"double \\"quoted\\""', 'double "quoted"'),
        ("3 != 3", False),
        ("'b' > 'a'", True),
        ("2 >= 2", True),
        ("2 <= 1", False),
        ("'' = BLANK()", True),
        ("0 = BLANK()", True),
        ("'10' = 10", True),
        ("'abc' = 0", False),
        ("'abc' != 0", True),
        ("'2' + 3", 5),
        ("TRUE() + TRUE()", 2),
        ("DATETIME_PARSE('2024-01-02') = '2024-01-02'", True),
        ("DATETIME_PARSE('2024-01-02T00:00:00.000Z') < '2024-01-02T00:00:01Z'", True),
        ("and(1, true())", True),
        ("BLANK() = BLANK()", True),
        ("BLANK() < BLANK()", False),
        ("BLANK() <= BLANK()", True),
        ("BLANK() < DATETIME_PARSE('2024-01-01')", False),
        ("DATETIME_PARSE('2024-01-02T01:00:00+01:00') = DATETIME_PARSE('2024-01-02T00:00:00Z')", True),
    ],
)
def test_operators_and_precedence(source: str, expected: Any) -> None:
    result = evaluate(source)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "cells", "expected"),
    [
        ("{Text} = ''", {"Text": None}, True),
        ("{Number} = 0", {"Number": None}, True),
        ("{Number} < 1", {"Number": None}, True),
        ("{Number} > 1", {"Number": None}, False),
        ("{Date} = BLANK()", {"Date": None}, True),
        ("{Date} = BLANK()", {"Date": "2024-01-02"}, False),
        ("{Date} != BLANK()", {"Date": "2024-01-02"}, True),
        ("{Done} = TRUE()", {"Done": True}, True),
        ("{Done} = FALSE()", {"Done": None}, True),
        ("{Date} = DATETIME_PARSE('2024-01-02')", {"Date": "2024-01-02"}, True),
        ("{When} > DATETIME_PARSE('2024-01-02')", {"When": "2024-01-02T00:00:00.001Z"}, True),
        ("{Tags} = 'a, b'", {"Tags": ["a", "b"]}, True),
        ("{Links} & '' = 'recA, recB'", {"Links": ["recA", "recB"]}, True),
        ("{Lookup} = 3", {"Lookup": [3]}, True),
        ("{Name} = 'Ann'", {"Name": "ann"}, False),
        ("{A} = {B}", {"A": None, "B": None}, True),
        ("{A} > {B}", {"A": None, "B": None}, False),
    ],
)
def test_comparisons_with_cell_values(source: str, cells: dict[str, Any], expected: bool) -> None:
    assert evaluate(source, **cells) is expected


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 / 0", ErrorValue("error", "#DIV/0!")),
        ("0 / 0", ErrorValue("specialValue", "NaN")),
        ("ERROR()", ErrorValue("error", "#ERROR!")),
        ("'abc' * 2", ErrorValue("specialValue", "NaN")),
        ("1e308 * 10", ErrorValue("specialValue", "Infinity")),
        ("-1e308 * 10", ErrorValue("specialValue", "-Infinity")),
        ("ERROR() & 'x'", ErrorValue("error", "#ERROR!")),
        ("(1 / 0) = 1", ErrorValue("error", "#DIV/0!")),
        ("DATETIME_PARSE('not a date')", ErrorValue("error", "#ERROR!")),
        ("AVERAGE(BLANK())", ErrorValue("error", "#DIV/0!")),
        ("MOD(5, 0)", ErrorValue("error", "#DIV/0!")),
    ],
)
def test_error_values(source: str, expected: ErrorValue) -> None:
    assert evaluate(source) == expected
    assert not parse(source).matches(Record(), NOW)


def test_error_cells_and_errors_inside_lookups_propagate() -> None:
    assert evaluate("{F} + 1", F={"specialValue": "NaN"}) == ErrorValue("specialValue", "NaN")
    assert evaluate("{L} & ''", L=["a", {"error": "#ERROR!"}]) == ErrorValue("error", "#ERROR!")
    assert evaluate("ISERROR({L})", L=[1, {"error": "#ERROR!"}]) is True
    assert evaluate("ISERROR({L})", L=[1, 2]) is False
    assert evaluate("IF(ISERROR(1/{N}), 'none', 1/{N})", N=0) == "none"
    assert evaluate("IF(ISERROR(1/{N}), 'none', 1/{N})", N=4) == 0.25


def test_the_sample_formula_field_number_plus_text_is_nan() -> None:
    # field_schema/FormulaFieldSchema.json: "{fldgstMCbpPNgbXBN} + \"FOO\"", named "Formula NaN"
    assert cell_result('{fldgstMCbpPNgbXBN} + "FOO"', fldgstMCbpPNgbXBN=1) == {"specialValue": "NaN"}


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"V": 0}, False),
        ({"V": 0.0}, False),
        ({"V": ""}, False),
        ({"V": None}, False),
        ({"V": []}, False),
        ({"V": "0"}, True),
        ({"V": " "}, True),
        ({"V": 2}, True),
        ({"V": ["x"]}, True),
        ({"V": True}, True),
        ({"V": "2024-01-02"}, True),
        ({"V": {"error": "#ERROR!"}}, False),
    ],
)
def test_filter_truthiness(cells: dict[str, Any], expected: bool) -> None:
    assert parse("{V}").matches(Record(cells), NOW) is expected


def test_false_and_nan_results_do_not_match() -> None:
    assert not parse("FALSE()").matches(Record(), NOW)
    assert not parse("0/0").matches(Record(), NOW)
    assert parse("DATETIME_PARSE('2024-01-01')").matches(Record(), NOW)


# -- functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("IF(1 > 2, 'yes')", None),
        ("IF('', 'yes', 'no')", "no"),
        ("SWITCH(2, 1, 'one', 2, 'two')", "two"),
        ("SWITCH(3, 1, 'one', 2, 'two', 'many')", "many"),
        ("SWITCH(3, 1, 'one', 2, 'two')", None),
        ("SWITCH(BLANK(), '', 'empty', 'set')", "empty"),
        ("XOR(1, 1, 1)", True),
        ("XOR(1, 1)", False),
        ("NOT('')", True),
        ("OR(0, '', BLANK())", False),
        ("AND(1, 'x', TRUE())", True),
        ("ISERROR(ERROR())", True),
        ("ISERROR(0/0)", True),
        ("ISERROR('fine')", False),
    ],
)
def test_logical_functions(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


def test_record_functions() -> None:
    record = Record(record_id="recXYZXYZXYZXYZXY")
    assert parse("RECORD_ID()").evaluate(record, NOW) == "recXYZXYZXYZXYZXY"
    # the full sync's record-id ranges
    assert parse("REGEX_MATCH(RECORD_ID(), '[WY]$')").evaluate(record, NOW) is True
    assert parse("NOT(REGEX_MATCH(RECORD_ID(), '[WY]$'))").matches(record, NOW) is False
    assert parse("CREATED_TIME()").evaluate(record, NOW) == record.created_time
    assert parse("LAST_MODIFIED_TIME()").evaluate(record, NOW) == record.last_modified_time
    with_fields = parse("LAST_MODIFIED_TIME({Name}, {Age})")
    assert with_fields.field_refs == {"Name", "Age"}
    assert with_fields.evaluate(record, NOW) == record.last_modified_time
    assert record.reads == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("DATETIME_PARSE('2024-01-02')", datetime(2024, 1, 2, tzinfo=UTC)),
        ("DATETIME_PARSE('2024-01-02T03:04:05Z')", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("DATETIME_PARSE('2024-01-02T03:04:05.678Z')", datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        ("DATETIME_PARSE('2024-01-02T03:04:05+02:00')", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
        ("DATETIME_PARSE('2024-01-02T03:04:05.000-0530')", datetime(2024, 1, 2, 8, 34, 5, tzinfo=UTC)),
        ("DATETIME_PARSE('2024-01-02 03:04')", datetime(2024, 1, 2, 3, 4, tzinfo=UTC)),
        ("DATETIME_PARSE('5/3/2024', 'D/M/YYYY')", datetime(2024, 3, 5, tzinfo=UTC)),
        ("DATETIME_PARSE('March 5th, 24', 'MMMM Do, YY')", datetime(2024, 3, 5, tzinfo=UTC)),
        ("DATETIME_PARSE('05 mar 2024 12:15 am', 'DD MMM YYYY hh:mm a')", datetime(2024, 3, 5, 0, 15, tzinfo=UTC)),
        (
            "DATETIME_PARSE('2024-03-05 7:08:09.5 PM', 'YYYY-MM-DD h:mm:ss.S A')",
            datetime(2024, 3, 5, 19, 8, 9, 500000, tzinfo=UTC),
        ),
        ("DATETIME_PARSE('20240305', 'YYYYMMDD')", datetime(2024, 3, 5, tzinfo=UTC)),
        ("DATETIME_PARSE('1709596800', 'X')", datetime(2024, 3, 5, tzinfo=UTC)),
        ("DATETIME_PARSE('2024-03-05 10:00 +01:00', 'YYYY-MM-DD HH:mm Z')", datetime(2024, 3, 5, 9, tzinfo=UTC)),
        ("DATETIME_PARSE('10:30', 'HH:mm')", datetime(2024, 3, 10, 10, 30, tzinfo=UTC)),  # today's date
        ("DATETIME_PARSE('31/02/2024', 'DD/MM/YYYY')", ErrorValue("error", "#ERROR!")),
        ("DATETIME_PARSE('2024-03-05', 'DD/MM/YYYY')", ErrorValue("error", "#ERROR!")),
        ("DATETIME_PARSE('')", ErrorValue("error", "#ERROR!")),
    ],
)
def test_datetime_parse(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("DATETIME_DIFF('2024-01-02', '2024-01-01', 'days')", 1),
        ("DATETIME_DIFF('2024-01-01', '2024-01-02', 'days')", -1),
        ("DATETIME_DIFF('2024-01-02T12:00:00Z', '2024-01-01', 'days')", 1),
        ("DATETIME_DIFF('2024-01-01T01:00:00Z', '2024-01-01', 'minutes')", 60),
        ("DATETIME_DIFF('2024-01-01T00:00:01Z', '2024-01-01')", 1),
        ("DATETIME_DIFF('2024-01-01T00:00:01.5Z', '2024-01-01', 'ms')", 1500),
        ("DATETIME_DIFF('2024-01-15', '2024-01-01', 'w')", 2),
        ("DATETIME_DIFF('2024-03-15', '2024-01-15', 'months')", 2),
        ("DATETIME_DIFF('2024-03-14', '2024-01-15', 'M')", 1),
        ("DATETIME_DIFF('2024-03-15', '2024-01-31', 'months')", 1),
        ("DATETIME_DIFF('2024-01-15', '2024-03-15', 'months')", -2),
        ("DATETIME_DIFF('2025-01-01', '2024-01-02', 'years')", 0),
        ("DATETIME_DIFF('2025-01-02', '2024-01-02', 'years')", 1),
        ("DATETIME_DIFF('2024-07-01', '2024-01-01', 'quarters')", 2),
        ("DATEADD('2024-01-31', 1, 'months')", datetime(2024, 2, 29, tzinfo=UTC)),
        ("DATEADD('2024-01-31', -2, 'month')", datetime(2023, 11, 30, tzinfo=UTC)),
        ("DATEADD('2024-01-01', 1.5, 'days')", datetime(2024, 1, 3, tzinfo=UTC)),
        ("DATEADD('2024-01-01', 90, 'minutes')", datetime(2024, 1, 1, 1, 30, tzinfo=UTC)),
        ("DATEADD('2024-02-29', 1, 'years')", datetime(2025, 2, 28, tzinfo=UTC)),
        ("DATEADD('2024-01-01', 1, 'quarter')", datetime(2024, 4, 1, tzinfo=UTC)),
        ("IS_SAME('2024-01-01T10:00:00Z', '2024-01-01T23:00:00Z', 'day')", True),
        ("IS_SAME('2024-01-01T10:00:00Z', '2024-01-01T23:00:00Z')", False),
        ("IS_SAME('2024-01-06', '2024-01-07', 'week')", False),  # Saturday vs Sunday
        ("IS_SAME('2024-01-07', '2024-01-13', 'weeks')", True),
        ("IS_SAME('2024-02-01', '2024-03-31', 'quarter')", True),
        ("IS_SAME('2024-02-01', '2025-02-01', 'month')", False),
        ("IS_SAME('2024-02-01', '2024-12-31', 'year')", True),
        ("IS_AFTER('2024-01-02', '2024-01-01')", True),
        ("IS_BEFORE('2024-01-02', '2024-01-01')", False),
        ("TODAY()", datetime(2024, 3, 10, tzinfo=UTC)),
        ("NOW()", NOW),
        ("IS_AFTER(NOW(), TODAY())", True),
        ("DATETIME_DIFF(BLANK(), '2024-01-01', 'days')", ErrorValue("error", "#ERROR!")),
        ("IS_AFTER('someday', '2024-01-01')", ErrorValue("error", "#ERROR!")),
    ],
)
def test_date_arithmetic(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


def test_date_cells_work_in_date_functions() -> None:
    cells = {"Due": "2024-03-12", "Done": "2024-03-11T09:00:00.000Z", "Empty": None}
    assert evaluate("DATETIME_DIFF({Due}, {Done}, 'hours')", **cells) == 15
    assert evaluate("IS_BEFORE({Done}, {Due})", **cells) is True
    assert evaluate("IF({Empty}, DATETIME_FORMAT({Empty}), 'no date')", **cells) == "no date"
    assert evaluate("DATETIME_FORMAT({Empty})", **cells) == ErrorValue("error", "#ERROR!")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (None, "2024-03-05T19:08:09.042Z"),
        ("'YYYY-MM-DD'", "2024-03-05"),
        ("'M/D/YY'", "3/5/24"),
        ("'DD MMM YYYY, HH:mm:ss.SSS'", "05 Mar 2024, 19:08:09.042"),
        ("'dddd, MMMM Do [at] h:mm a'", "Tuesday, March 5th at 7:08 pm"),
        ("'ddd Q DDD DDDD E d'", "Tue 1 65 065 2 2"),
        ("'hh A kk Z ZZ'", "07 PM 19 +00:00 +0000"),
        ("'X x'", "1709665689 1709665689042"),
        ("'LL'", "March 5, 2024"),
        ("'L LT'", "03/05/2024 7:08 PM"),
        ("'YYYY-MM-DDTHH:mm'", "2024-03-05T19:08"),
    ],
)
def test_datetime_format(fmt: str | None, expected: str) -> None:
    argument = f", {fmt}" if fmt else ""
    assert evaluate(f"DATETIME_FORMAT(DATETIME_PARSE('2024-03-05T19:08:09.042Z'){argument})") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("LEN('héllo')", 5),
        ("LEN(BLANK())", 0),
        ("LOWER('AbC')", "abc"),
        ("UPPER('AbC')", "ABC"),
        ("TRIM('  a b  ')", "a b"),
        ("CONCATENATE('a', 1, BLANK(), 2.5)", "a12.5"),
        ("CONCATENATE(6 / 2)", "3"),
        ("FIND('b', 'abcb')", 2),
        ("FIND('b', 'abcb', 3)", 4),
        ("FIND('B', 'abcb')", 0),
        ("SEARCH('c', 'abc')", 3),
        ("SEARCH('z', 'abc')", None),
        ("LEFT('abcdef', 2)", "ab"),
        ("LEFT('ab', 5)", "ab"),
        ("RIGHT('abcdef', 2)", "ef"),
        ("RIGHT('abcdef', 0)", ""),
        ("MID('abcdef', 2, 3)", "bcd"),
        ("SUBSTITUTE('a-b-c', '-', '+')", "a+b+c"),
        ("SUBSTITUTE('a-b-c', '-', '+', 2)", "a-b+c"),
        ("SUBSTITUTE('a-b-c', '-', '+', 3)", "a-b-c"),
        ("REPLACE('abcdef', 2, 3, 'X')", "aXef"),
        ("T('text')", "text"),
        ("T(12)", None),
        ("VALUE('$1,000.50')", 1000.5),
        ("VALUE(' 42 ')", 42),
        ("VALUE('abc')", ErrorValue("specialValue", "NaN")),
        ("TRUE() & ''", "1"),
        # RE2, as Airtable: case-sensitive unless (?i); a match anywhere unless anchored
        ("REGEX_MATCH('recAbc', '^...[A-C]')", True),
        ("REGEX_MATCH('recabc', '^...[A-C]')", False),
        ("REGEX_MATCH('recabc', '(?i)^...[A-C]')", True),
        ("REGEX_MATCH('x-42-y', '[0-9]+')", True),
        ("REGEX_MATCH(BLANK(), '^$')", True),
        ("REGEX_EXTRACT('order 42, line 7', '[0-9]+')", "42"),
        ("REGEX_EXTRACT('none', '[0-9]+')", None),
        ("REGEX_REPLACE('2024-01-05', '([0-9]+)-([0-9]+)-([0-9]+)', '$3/$2/$1')", "05/01/2024"),
        ("REGEX_REPLACE('a1b22', '[0-9]+', '#')", "a#b#"),
    ],
)
def test_text_functions(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("ROUND(2.5, 0)", 3),
        ("ROUND(-2.5, 0)", -2),
        ("ROUND(1.005, 2)", 1.01),
        ("ROUND(1234.5678, -2)", 1200),
        ("ROUND(7.4)", 7),
        ("ROUNDUP(1.21, 1)", 1.3),
        ("ROUNDUP(-1.1, 0)", -2),
        ("ROUNDDOWN(1.29, 1)", 1.2),
        ("ROUNDDOWN(-1.9, 0)", -1),
        ("INT(-1.5)", -2),
        ("INT(1.9)", 1),
        ("ABS(-3)", 3),
        ("MOD(7, 3)", 1),
        ("MOD(-7, 3)", -1),
        ("MOD(7.5, 2)", 1.5),
        ("SUM(1, 2, 3.5)", 6.5),
        ("MIN(3, 1, 2)", 1),
        ("MAX(3, 1, 2)", 3),
        ("MAX(BLANK())", 0),
        ("AVERAGE(1, 2, 3, 4)", 2.5),
        ("COUNT(1, 'a', BLANK(), 2)", 2),
        ("COUNTA(1, 'a', BLANK(), '')", 2),
        ("COUNTALL(1, 'a', BLANK(), '')", 4),
    ],
)
def test_number_functions(source: str, expected: Any) -> None:
    result = evaluate(source)
    assert result == expected and type(result) is type(expected)


def test_aggregates_and_array_functions_on_lookup_cells() -> None:
    cells = {
        "Hours": [3, None, 4.5, 3],
        "Tags": ["b", "", "a", None, "b", False, " "],
        "Nested": [[1, 2, ""], [False]],
        "Dates": ["2024-02-01", "2024-01-15T10:00:00.000Z"],
    }
    assert evaluate("SUM({Hours})", **cells) == 10.5
    assert evaluate("COUNT({Hours})", **cells) == 3
    assert evaluate("COUNTALL({Hours})", **cells) == 4
    assert evaluate("AVERAGE({Hours})", **cells) == 3.5
    assert evaluate("ARRAYJOIN({Tags}, '; ')", **cells) == "b; ; a; ; b; 0;  "
    assert evaluate("ARRAYJOIN(ARRAYUNIQUE({Hours}))", **cells) == "3, , 4.5"
    assert evaluate("ARRAYCOMPACT({Tags})", **cells) == ["b", "a", "b", False, " "]
    assert evaluate("ARRAYFLATTEN({Nested})", **cells) == [1, 2, "", False]
    assert evaluate("ARRAYUNIQUE(ARRAYCOMPACT({Tags}))", **cells) == ["b", "a", False, " "]
    assert evaluate("MIN({Dates})", **cells) == datetime(2024, 1, 15, 10, tzinfo=UTC)
    assert evaluate("MAX({Dates})", **cells) == datetime(2024, 2, 1, tzinfo=UTC)
    assert evaluate("LEN({Tags})", Tags=["ab", "c"]) == 5  # "ab, c"


# -- parse errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("FOO(1)", "Unknown function FOO()"),
        ("Name = 'x'", "Unknown identifier 'Name'"),
        ("TRUE = 1", "TRUE()"),
        ("IF(1)", "IF() takes 2 to 3 arguments, got 1"),
        ("NOT(1, 2)", "NOT() takes exactly 1 argument, got 2"),
        ("RECORD_ID(1)", "RECORD_ID() takes exactly 0 arguments, got 1"),
        ("AND()", "AND() takes at least 1 argument, got 0"),
        ("1 +", "Unexpected end of formula at character 4"),
        ("(1", "expected ')'"),
        ("1 2", "Unexpected '2' at character 3"),
        ("IF(1 2)", "expected ',' or ')'"),
        ("'abc", "Unterminated string"),
        ("{abc", "Unterminated field reference"),
        ("{}", "Empty field reference"),
        ("1 ! 2", "Unexpected character '!'"),
        ("1 <> 2", "Unexpected '>'"),
        ("LAST_MODIFIED_TIME('x')", "only field references"),
        ("DATETIME_DIFF(NOW(), NOW(), 'fortnights')", "Unknown time unit 'fortnights'"),
        ("DATEADD(NOW(), 1, 'lightyears')", "Unknown time unit"),
        ("DATETIME_FORMAT(NOW(), 'Wo [week]')", "unsupported format token 'Wo'"),
        ("DATETIME_PARSE('1', 'Q')", "unsupported format token 'Q'"),
        ("REGEX_MATCH('a', '[')", "invalid regular expression '['"),
        ("(" * 3000 + "1" + ")" * 3000, "nested too deeply"),
    ],
)
def test_invalid_formulas_raise_formula_error(source: str, message: str) -> None:
    with pytest.raises(FormulaError, match=rf"(?i){_escape(message)}"):
        parse(source)


def _escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "()[]{}.*+?^$|\\" else char for char in text)


def test_deeply_nested_pyairtable_compounds_still_parse() -> None:
    condition = EQ(Field("N"), 0)
    for index in range(1, 120):
        condition = condition | EQ(Field("N"), index)  # Formula.__or__ nests OR(OR(OR(…)))
    formula = parse(str(condition))
    assert formula.matches(Record({"N": 119}), NOW)
    assert not formula.matches(Record({"N": 120}), NOW)


def test_parse_is_cached_per_source_text() -> None:
    assert parse("{A} = 1") is parse("{A} = 1")


# -- formula field cells ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (3.0, 3),
        (2.5, 2.5),
        (7, 7),
        (0, 0),
        ("text", "text"),
        ("", None),
        (None, None),
        (True, True),
        (False, None),
        ([], None),
        (["a", 2.0], ["a", 2]),
        (datetime(2024, 1, 2, 3, 4, 5, 678900, tzinfo=UTC), "2024-01-02T03:04:05.678Z"),
        (ErrorValue("error", "#ERROR!"), {"error": "#ERROR!"}),
        (ErrorValue("specialValue", "Infinity"), {"specialValue": "Infinity"}),
        (float("nan"), {"specialValue": "NaN"}),
    ],
)
def test_to_cell_value(value: Any, cell: Any) -> None:
    result = to_cell_value(value)
    assert result == cell and type(result) is type(cell)


def test_formula_field_results_as_cells() -> None:
    assert cell_result("{Price} * {Qty}", Price=2.5, Qty=4) == 10
    assert cell_result("{First} & ' ' & {Last}", First="Ada", Last="Lovelace") == "Ada Lovelace"
    assert cell_result("{Missing} & ''", Missing=None) is None
    assert cell_result("DATEADD({Start}, 7, 'days')", Start="2024-01-01") == "2024-01-08T00:00:00.000Z"
    assert cell_result("{Total} / {Count}", Total=5, Count=0) == {"error": "#DIV/0!"}


# -- speed --------------------------------------------------------------------------------------


def test_poll_formula_throughput() -> None:
    formula = parse("IS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE('2024-01-01T00:00:00.000Z'))")
    start = datetime(2023, 12, 31, 23, 0, tzinfo=UTC)
    records = [Record(last_modified_time=start + timedelta(minutes=index)) for index in range(1000)]
    matches = formula.matches
    rounds = 100
    began = time.perf_counter()
    for _ in range(rounds):
        for record in records:
            matches(record, NOW)
    rate = rounds * len(records) / (time.perf_counter() - began)
    print(f"\nIS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE(…)): {rate:,.0f} evaluations/s")
    assert sum(matches(record, NOW) for record in records) == 939  # minutes 61…999 are after midnight
    assert rate >= 50_000
