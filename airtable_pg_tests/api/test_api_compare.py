"""pyairtable against the mirror's API and against the sandbox holding the same data: the same answers.

The sandbox is the reference (its answers are Airtable's as far as this project knows them); the mirror was filled
from it by the real sync engine. Every call is made against both and the whole answers compared: records with
every cell of every field type, pages, offsets, and refusals (status and error type).
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyairtable import Api

import airtable_formula as formula_engine
from airtable_pg.api import listing
from airtable_pg.api.prefilter import necessary_condition
from airtable_pg.api.records import MirrorContext
from airtable_pg.api.tables import ServedTable
from airtable_pg.postgres.api_reads import MirrorRecord, records_after
from airtable_pg.postgres.database import libpq_url
from airtable_pg_tests.api import compare
from airtable_pg_tests.api.compare import normalized, outcome, pages
from airtable_pg_tests.api.conftest import Served
from airtable_sandbox.demo import DEMO_BASE_ID

TABLES = ["programs", "methods", "overtuigingen", "users", "persoonlijke_overtuigingen", "personal_goals"]

# table → formulas: every field type in a comparison, text functions, blanks vs 0 vs "", dates, links, lookups,
# rollups, error values, record functions, and Airtable's truthiness.
FORMULAS: dict[str, list[str]] = {
    "users": [
        "{active}",
        "NOT({active})",
        "{role} = 'coach'",
        "{role} != 'client'",
        "OR({role} = 'admin', {role} = 'coach')",
        "AND({active}, {role} = 'client')",
        "{email} = ''",
        "{phone}",
        "{phone} = BLANK()",
        "LEN({name}) > 12",
        "FIND('van', LOWER({last_name}))",
        "SEARCH('de', {name}) > 0",
        "LEFT({first_name}, 1) = 'B'",
        "RIGHT({email}, 3) = '.nl'",
        "MID({name}, 2, 3) = 'ann'",
        "UPPER({first_name}) = 'BAS'",
        "TRIM(' ' & {first_name} & ' ') = {first_name}",
        "SUBSTITUTE({full_name}, ' ', '') = {first_name} & {last_name}",
        "{full_name} = {first_name} & ' ' & {last_name}",
        "CONCATENATE({first_name}, {last_name}) != ''",
        "REGEX_MATCH({email}, '^[a-m]')",
        "REGEX_EXTRACT({email}, '@(.*)$') = 'example.nl'",
        "{goal_count} > 2",
        "{goal_count} = 0",
        "{goal_count}",
        "{minutes_practiced_total} >= 1000",
        "{minutes_practiced_total} / {goal_count} > 400",
        "MOD({member_number}, 7) = 3",
        "{member_number} <= 20",
        "ROUND({minutes_practiced_total} / 60, 0) > 10",
        "IS_AFTER({signup_date}, '2025-01-01')",
        "IS_BEFORE({last_login}, DATETIME_PARSE('2026-06-01'))",
        "DATETIME_DIFF({last_login}, {signup_date}, 'days') > 365",
        "DATETIME_FORMAT({signup_date}, 'YYYY') = '2024'",
        "IS_SAME({signup_date}, '2024-03-30', 'day')",
        "DATEADD({signup_date}, 1, 'months') > {last_login}",
        "{signup_date} < '2025-06-01'",
        "CREATED_TIME() > DATETIME_PARSE('2025-01-01')",
        "IS_AFTER({created}, '2025-01-01')",
        "RECORD_ID() = 'recNotThere000000'",
        "{personal_goals}",
        "{persoonlijke_overtuigingen} = BLANK()",
        "ARRAYJOIN({goal_progress}) != ''",
        "ISERROR({goal_progress})",
        "{coach} = 'Anouk de Wit'",
        "{support_team}",
        "{member_card}",
        "{avatar}",
        "{website} != BLANK()",
        "IF({active}, {goal_count} > 1, {goal_count} = 0)",
        "SWITCH({role}, 'coach', 1, 'admin', 1, 0)",
        "XOR({active}, {role} = 'coach')",
        "VALUE('12') = 12",
        '{name} = "Bas Hendriks"',
        "{name} = 'O\\'Brien'",
        "1",
        "0",
        "''",
        "BLANK()",
        "TRUE()",
        "1/0",
        "ERROR()",
        "{goal_count} & '' = '3'",
        "T({name}) = {name}",
        "COUNTA({personal_goals}) > 3",
    ],
    "personal_goals": [
        "{completed}",
        "{status} = 'Done'",
        "{priority} >= 4",
        "{progress} > 0.5",
        "ISERROR({progress})",
        "{progress} = BLANK()",
        "{target_minutes} = 0",
        "{target_minutes} = ''",
        "{minutes_practiced} > {target_minutes}",
        "{budget} > 100",
        "{time_spent} > 3600",
        "IS_BEFORE({deadline}, '2026-12-01')",
        "{deadline} = BLANK()",
        "{reminder_at}",
        "FIND('health', ARRAYJOIN({focus_areas}))",
        "{focus_areas} = 'health, mindfulness'",
        "{user_email} != ''",
        "{days_to_deadline} < 30",
        "ISERROR({days_to_deadline})",
        "{goal_number} < 50",
        "LEN({description}) > 40",
        "{evidence}",
        "AND({user}, {program})",
    ],
    "programs": [
        "{is_featured}",
        "{status} = 'published'",
        "{price} = 0",
        "{price_per_week} > 10",
        "{method_count} >= 3",
        "FIND('Timeboxing', {method_names})",
        "{topics} = 'sleep'",
        "FIND('sleep', {topics})",
        "{owner}",
        "{cover_image} = BLANK()",
        "{start_date} > '2025-06-01'",
        "REGEX_MATCH({description}, 'weken')",
    ],
    "methods": [
        "{kind} = 'journaling'",
        "{difficulty} > 2",
        "{session_length} >= 1200",
        "{program_name} = 'Stress de Baas'",
        "{sort_order} = 1",
        "{video_url}",
        "LEN({instructions}) > 50",
    ],
    "overtuigingen": [
        "{helpend}",
        "{aantal_keer_gekozen} > 20",
        "{gemiddelde_sterkte} > 0.5",
        "{categorie} = 'prestatie'",
    ],
    "persoonlijke_overtuigingen": [
        "{sterkte} > 0.5",
        "{verschil} < 0",
        "ISERROR({verschil})",
        "{overtuiging_titel} != ''",
        "{begeleiders}",
        "{status} = 'onderzoeken'",
    ],
}
CASES = [(table, formula) for table, formulas in FORMULAS.items() for formula in formulas]


def assert_same(served: Served, table: str, sort: list[str] | None = None, **options: object) -> dict:
    return compare.assert_same(served, DEMO_BASE_ID, table, sort, **options)


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize("table", TABLES)
def test_every_record_and_cell_of_every_table(demo_served: Served, table: str) -> None:
    answer = assert_same(demo_served, table)
    assert len(answer["records"]) > 0
    by_id = assert_same(demo_served, table, use_field_ids=True)
    assert len(by_id["records"]) == len(answer["records"])


@pytest.mark.parametrize(("table", "formula"), CASES)
def test_filter_by_formula(demo_served: Served, table: str, formula: str) -> None:
    assert_same(demo_served, table, formula=formula)


def test_the_corpus_selects_something_and_not_everything(demo_served: Served) -> None:
    """A corpus of formulas that all match nothing (or everything) would compare nothing."""
    counts = [len(assert_same(demo_served, "users", formula=f)["records"]) for f in FORMULAS["users"][:25]]
    assert len(set(counts)) > 5


@pytest.mark.parametrize(
    ("table", "sort"),
    [
        ("users", ["name"]),
        ("users", ["-goal_count", "name"]),
        ("users", ["role", "-last_login"]),
        ("users", ["personal_goals"]),
        ("users", ["coach"]),
        ("personal_goals", ["progress"]),
        ("personal_goals", ["-deadline", "priority"]),
        ("programs", ["topics", "-price"]),
        ("methods", ["program_name", "difficulty"]),
        ("persoonlijke_overtuigingen", ["-sterkte"]),
    ],
)
def test_sort(demo_served: Served, table: str, sort: list[str]) -> None:
    assert_same(demo_served, table, sort=sort)
    assert_same(demo_served, table, sort=sort, formula="NOT(RECORD_ID() = '')")


def test_max_records_cut_a_sorted_listing(demo_served: Served) -> None:
    """Where ties straddle the cut, Airtable's pick is arbitrary: a unique last key makes it defined."""
    answer = assert_same(demo_served, "users", sort=["-goal_count", "member_number"], max_records=33)
    assert len(answer["records"]) == 33


@pytest.mark.parametrize(
    "options",
    [
        {"page_size": 7},
        {"page_size": 7, "formula": "{goal_count} > 1"},
        {"page_size": 10, "max_records": 25, "formula": "{active}"},
        {"page_size": 3, "sort": ["-member_number"], "formula": "{role} = 'client'"},
        {"page_size": 5, "sort": ["member_number"], "fields": ["name", "email"]},
    ],
)
def test_pages_are_the_same_pages(demo_served: Served, options: dict) -> None:
    """Page by page, with ``sort`` on a unique field (order defined) or without (compared as sets per page count)."""
    mirror = pages(demo_served.mirror(), DEMO_BASE_ID, "users", **options)
    airtable = pages(demo_served.airtable(), DEMO_BASE_ID, "users", **options)
    assert [len(page) for page in mirror] == [len(page) for page in airtable]
    if "sort" in options:
        assert mirror == airtable
    else:
        assert sorted(r["id"] for p in mirror for r in p) == sorted(r["id"] for p in airtable for r in p)


@pytest.mark.parametrize(
    "options",
    [
        {"fields": ["name", "email", "goal_count"]},
        {"fields": ["name"], "use_field_ids": True},
        {"fields": ["no such field"]},
        {"sort": ["no such field"]},
        {"formula": "{no such field} = 1"},
        {"formula": "AND(1,"},
        {"formula": "NOSUCHFUNCTION(1)"},
        {"formula": "'unterminated"},
        {"formula": "{name} = 'x'; DROP TABLE airtable.users; --'"},
        {"formula": "'); DROP TABLE airtable.users; --"},
        {"max_records": 5, "sort": ["name"]},
        {"page_size": 101},
        {"page_size": 0},
    ],
)
def test_parameters_and_refusals(demo_served: Served, options: dict) -> None:
    assert_same(demo_served, "users", **options)


def test_tables_by_id_and_name_and_unknown(demo_served: Served) -> None:
    users = demo_served.spec.bases["coaching"].tables["users"]
    assert normalized(outcome(demo_served.mirror(), DEMO_BASE_ID, users.id), None) == normalized(
        outcome(demo_served.airtable(), DEMO_BASE_ID, "users"), None
    )
    assert_same(demo_served, "no such table")
    mirror = outcome(demo_served.mirror(), "appNoSuchBase0000", "users")
    assert mirror == outcome(demo_served.airtable(), "appNoSuchBase0000", "users")


def test_get_one_record(demo_served: Served) -> None:
    for table in TABLES:
        record = demo_served.airtable().table(DEMO_BASE_ID, table).first()
        assert record is not None
        assert demo_served.mirror().table(DEMO_BASE_ID, table).get(record["id"]) == record
        by_id = demo_served.mirror().table(DEMO_BASE_ID, table).get(record["id"], use_field_ids=True)
        assert by_id == demo_served.airtable().table(DEMO_BASE_ID, table).get(record["id"], use_field_ids=True)


def test_get_one_record_asked_for_under_another_table_of_its_base(demo_served: Served) -> None:
    """Airtable falls back to a base-wide search and answers the record as its own table shapes it."""
    method = demo_served.airtable().table(DEMO_BASE_ID, "methods").first()
    assert method is not None
    found = demo_served.mirror().table(DEMO_BASE_ID, "users").get(method["id"])
    assert found == demo_served.airtable().table(DEMO_BASE_ID, "users").get(method["id"]) == method
    assert outcome_of_get(demo_served.mirror(), "recNotThere000000") == outcome_of_get(
        demo_served.airtable(), "recNotThere000000"
    )


def outcome_of_get(api: Api, record_id: str) -> object:
    try:
        return api.table(DEMO_BASE_ID, "users").get(record_id)
    except requests.HTTPError as error:
        return error.response.status_code, error.response.json()


_FIELDS = ["name", "role", "goal_count", "active", "signup_date", "minutes_practiced_total", "email", "phone"]
_LITERALS = st.one_of(
    st.integers(-5, 5000).map(str),
    st.sampled_from(["''", "'coach'", "'client'", "'2025-01-01'", "BLANK()", "TRUE()", "FALSE()", "0", "1"]),
)
_ATOMS = st.one_of(st.sampled_from([f"{{{f}}}" for f in _FIELDS]), _LITERALS)
_COMPARISONS = st.builds(
    lambda a, op, b: f"{a} {op} {b}", _ATOMS, st.sampled_from(["=", "!=", "<", ">", "<=", ">=", "&"]), _ATOMS
)
_FORMULAS = st.recursive(
    st.one_of(_COMPARISONS, _ATOMS),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"AND({a}, {b})", inner, inner),
        st.builds(lambda a, b: f"OR({a}, {b})", inner, inner),
        st.builds(lambda a: f"NOT({a})", inner),
        st.builds(lambda a, b, c: f"IF({a}, {b}, {c})", inner, inner, inner),
        st.builds(lambda a: f"LEN({a} & '') > 3", inner),
    ),
    max_leaves=6,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(formula=_FORMULAS)
def test_generated_formulas(demo_served: Served, formula: str) -> None:
    assert_same(demo_served, "users", formula=formula)


# Formulas the SQL pre-filter cannot narrow (functions, an inequality): the scan itself is cut short.
@pytest.mark.parametrize("formula", ["{goal_count} > 2", "LOWER({role}) = 'admin'", "LOWER(RECORD_ID()) = 'recnone'"])
def test_a_scan_cut_short_by_its_time_bound_resumes_where_it_stopped(
    demo_served: Served, monkeypatch: pytest.MonkeyPatch, formula: str
) -> None:
    """Every batch overruns a zero time bound: pages come short (even empty) with an offset, and paging on yields
    exactly Airtable's records."""
    monkeypatch.setattr(listing, "SCAN_SECONDS", 0.0)
    monkeypatch.setattr(listing, "SCAN_BATCH", 4)
    mirror = pages(demo_served.mirror(), DEMO_BASE_ID, "users", formula=formula, page_size=10)
    airtable = assert_same(demo_served, "users", formula=formula)
    assert sorted(r["id"] for page in mirror for r in page) == sorted(r["id"] for r in airtable["records"])
    assert len(mirror) > 3 and any(len(page) < 10 for page in mirror[:-1])


# ---------------------------------------------------------------------------------------------
# The SQL pre-filter: Postgres drops rows that cannot match before the engine evaluates the rest.


def demo_table(served: Served, table: str) -> ServedTable:
    base = next(b for b in served.spec.bases.values() if b.id == DEMO_BASE_ID)
    return ServedTable.of(base, base.tables[table])


def rows_of(served: Served, table: str, condition: object = None) -> list[MirrorRecord]:
    spec = demo_table(served, table)
    with psycopg.connect(libpq_url(served.database_url)) as conn, conn.cursor() as cur:
        return records_after(cur, spec.base, spec.table, None, 100_000, None, condition)


def engine_matches(served: Served, table: str, formula: str) -> tuple[set[str], set[str] | None]:
    """The ids the engine matches over every row, and the ids the pre-filter lets through (None: no pre-filter)."""
    table_served = demo_table(served, table)
    parsed = formula_engine.parse(formula)
    now = datetime.now(UTC)
    matched = {r.id for r in rows_of(served, table) if parsed.matches(MirrorContext(table_served, r), now)}
    condition = necessary_condition(parsed, table_served)
    return matched, None if condition is None else {r.id for r in rows_of(served, table, condition)}


def test_the_pre_filter_never_drops_a_match(demo_served: Served) -> None:
    narrowed = 0
    for table, formula in CASES:
        matched, passed = engine_matches(demo_served, table, formula)
        if passed is not None:
            assert matched <= passed, (table, formula)
            narrowed += 1
    assert narrowed >= 30  # flags, equalities, ids, through AND/OR: the corpus exercises the pre-filter


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(formula=_FORMULAS)
def test_the_pre_filter_never_drops_a_match_of_generated_formulas(demo_served: Served, formula: str) -> None:
    matched, passed = engine_matches(demo_served, "users", formula)
    assert passed is None or matched <= passed


def test_the_pre_filter_leaves_only_the_matches_of_equalities_and_flags(demo_served: Served) -> None:
    """What makes a rare filter fast: Postgres answers the rows, the engine only confirms them."""
    users = {r.id: r for r in rows_of(demo_served, "users")}
    picked = sorted(users)[:3]
    for formula in [
        "{role} = 'coach'",
        "AND({active}, {role} = 'client')",
        "OR({role} = 'admin', {role} = 'coach')",
        "OR(" + ", ".join(f"RECORD_ID() = '{record_id}'" for record_id in picked) + ")",
        "{phone}",
    ]:
        matched, passed = engine_matches(demo_served, "users", formula)
        assert passed == matched and 0 < len(matched) < len(users), formula


@pytest.mark.parametrize("formula", ["{name} = 'a\x00b'", "OR({role} = 'coach', {name} = '\x00')"])
def test_texts_postgres_cannot_hold_are_left_to_the_engine(demo_served: Served, formula: str) -> None:
    assert_same(demo_served, "users", formula=formula)


@pytest.mark.parametrize(
    "formula",
    ["{name} = '50%'", "OR({role} = '%s', {role} = 'coach')", "RECORD_ID() = '%(x)s'", "{name} = 'x\\'); --'"],
)
def test_placeholders_and_quotes_in_a_pre_filtered_formula_are_values(demo_served: Served, formula: str) -> None:
    assert_same(demo_served, "users", formula=formula)


def test_a_lone_surrogate_in_a_posted_formula_is_refused_as_the_sandbox_refuses_it(demo_served: Served) -> None:
    """JSON can carry "\\ud800" (a query string cannot): a clear 422 from both, not a 500 or a silent answer."""
    body = {"filterByFormula": "OR({role} = 'coach', {phone} = '\ud800')"}

    def listed(url: str, token: str) -> tuple[int, list[str]]:
        response = requests.post(
            f"{url}/v0/{DEMO_BASE_ID}/users/listRecords", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code, sorted(record["id"] for record in response.json().get("records", []))

    mirror = listed(demo_served.api_url, demo_served.token)
    assert mirror == listed(demo_served.sandbox.url, demo_served.sandbox.token)
    assert mirror == (422, [])
