"""A second ecosystem's client: airtable.js (npm ``airtable``, run with Node) gets the same answers from the API as
from the sandbox. Skipped, saying why, where Node or the npm package cannot be had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airtable_pg_tests.api.airtable_js import run_airtable_js
from airtable_pg_tests.api.compare import normalized
from airtable_pg_tests.api.conftest import Served

CALLS: list[dict[str, Any]] = [
    {"table": "users"},
    {"table": "users", "select": {"filterByFormula": "AND({active}, {goal_count} > 1)", "pageSize": 7}},
    {"table": "users", "select": {"sort": [{"field": "member_number", "direction": "desc"}], "maxRecords": 30}},
    {"table": "users", "select": {"fields": ["name", "email"], "filterByFormula": "FIND('van', LOWER({name}))"}},
    {"table": "personal_goals", "select": {"filterByFormula": "ISERROR({progress})"}},
    {"table": "programs", "select": {"sort": [{"field": "price"}, {"field": "name"}]}},
    {"table": "methods", "select": {"filterByFormula": "{program_name} = 'Stress de Baas'"}},
    {"table": "users", "select": {"filterByFormula": "{no such field}"}},
    {"table": "no such table"},
]


def test_airtable_js_gets_the_same_answers(demo_served: Served, node_modules: Path) -> None:
    mirror = run_airtable_js(node_modules, demo_served.api_url, demo_served.token, CALLS)
    airtable = run_airtable_js(node_modules, demo_served.sandbox.url, demo_served.sandbox.token, CALLS)
    for call, ours, theirs in zip(CALLS, mirror, airtable, strict=True):
        sort = [s["field"] for s in call.get("select", {}).get("sort", [])] or None
        if "status" in theirs:
            assert (ours["status"], ours["error"]) == (theirs["status"], theirs["error"]), call
        else:
            assert normalized(ours, sort) == normalized(theirs, sort), call
    assert sum(len(answer.get("records", [])) for answer in mirror) > 50
    one = [{"table": "users", "find": mirror[0]["records"][0]["id"]}]
    found = run_airtable_js(node_modules, demo_served.api_url, demo_served.token, one)
    assert found == run_airtable_js(node_modules, demo_served.sandbox.url, demo_served.sandbox.token, one)
    assert found[0]["records"][0] == mirror[0]["records"][0]
