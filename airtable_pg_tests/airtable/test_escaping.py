"""The escaped form of cells Postgres cannot hold: Postgres stores it, and it decodes to exactly the original."""

from __future__ import annotations

import json
import random

import psycopg
import pytest
from psycopg.types.json import Jsonb

from airtable_pg.airtable.escaping import (
    ESCAPED_KEY,
    escape_cell,
    storable,
    unescape_cell,
    unescape_fields,
    unstorable_cells,
)
from airtable_pg.postgres.database import libpq_url

HOSTILE_CELLS = [
    "nul\x00byte",
    "\x00",
    "\x00\x00\x00",
    "trailing\x00",
    "lone \ud800 surrogate",
    "\udfff",
    "é and \x00 and 日本",
    {ESCAPED_KEY: '"x"'},  # a cell shaped like the marker: escaped, so never mistaken for one
    {ESCAPED_KEY: 7},
    {ESCAPED_KEY: {ESCAPED_KEY: '"\\u0000"'}},
    ["a", "b\x00", "c"],
    ["a", 1, None, "\x00"],
    [{"filename": "a\x00.png", "size": 3, "thumbnails": {"small": {"url": "u\x00"}}}],
    {"key\x00": "value"},
    {"state": "generated", "isStale": False, "value": "\x00"},
]
STORABLE_CELLS = [
    '{"$airtable_pg_escaped": "\\"x\\""}',  # text that spells the escape: stays text
    "\\u0000",  # a backslash and five characters, not a NUL
    {ESCAPED_KEY: '"x"', "other": 1},  # two members: not the marker's shape
    "plain",
    "é",
    "emoji 😀",
    "",
    0,
    1.5,
    True,
    ["a", "b"],
    [{"id": "att1", "size": 3}],
]


def random_text(rng: random.Random) -> str:
    alphabet = ["\x00", "\\", '"', "u", "0", "$", "a", "é", "\ud800", "\udc00", "😀", "{", "}"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def random_cell(rng: random.Random, depth: int = 0):
    kind = rng.choice(["str", "str", "num", "list", "dict"] if depth < 3 else ["str", "num"])
    if kind == "str":
        return random_text(rng)
    if kind == "num":
        return rng.choice([0, -1, 2.5, True, None])
    if kind == "list":
        return [random_cell(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [ESCAPED_KEY] if rng.random() < 0.3 else [random_text(rng) for _ in range(rng.randint(0, 3))]
    return {key: random_cell(rng, depth + 1) for key in keys}


# Through JSON once: a high and a low surrogate side by side become one character when Airtable's JSON is
# parsed, so a cell never holds that pair as two; everything else (lone surrogates, NUL) survives parsing.
FUZZED = [json.loads(json.dumps(random_cell(random.Random(seed)))) for seed in range(300)]


@pytest.mark.parametrize("cell", HOSTILE_CELLS)
def test_hostile_cells_are_escaped_and_round_trip(cell) -> None:
    assert unstorable_cells({"fldCell0000000001": cell}) == {"fldCell0000000001"}
    escaped = escape_cell(cell)
    assert storable(escaped) and escaped[ESCAPED_KEY].isascii()
    assert unescape_cell(escaped) == cell


@pytest.mark.parametrize("cell", STORABLE_CELLS)
def test_storable_cells_are_left_alone(cell) -> None:
    assert unstorable_cells({"fldCell0000000001": cell}) == set()
    assert unescape_cell(cell) == cell


def test_fuzzed_cells_round_trip_through_postgres(database_url: str) -> None:
    fields = {f"fld{index:014d}": cell for index, cell in enumerate(HOSTILE_CELLS + STORABLE_CELLS + FUZZED)}
    unstorable = unstorable_cells(fields)
    stored = {fid: escape_cell(cell) if fid in unstorable else cell for fid, cell in fields.items()}
    assert all(storable(cell) for cell in stored.values())
    # Every cell that is not escaped really is storable: Postgres takes them all, one jsonb, as the mirror does.
    with psycopg.connect(libpq_url(database_url)) as conn:
        (back,) = conn.execute("select %s::jsonb", (Jsonb(stored),)).fetchone()
    assert unescape_fields(back) == fields
    assert json.dumps(unescape_fields(back), sort_keys=True) == json.dumps(fields, sort_keys=True)  # types too


def test_postgres_really_refuses_what_is_escaped(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn, pytest.raises(psycopg.errors.UntranslatableCharacter):
        conn.execute("select %s::jsonb", (Jsonb({"f": "nul\x00byte"}),))
