"""orjson where it gives the standard library's values; the standard library where orjson refuses."""

from __future__ import annotations

import json

from airtable_pg import fast_json

RECORD = {
    "id": "recA1b2C3d4E5f6G7",
    "createdTime": "2026-11-01T10:00:00.000Z",
    "fields": {
        "name": "Zoë ✓ 名",
        "score": 0.30000000000000004,
        "count": 7,
        "done": True,
        "tags": ["a", "b"],
        "owner": {"id": "usr1", "email": "a@b.c"},
        "empty": None,
    },
}


def test_a_record_reads_and_writes_as_the_standard_library_would() -> None:
    text = json.dumps(RECORD).encode()
    assert fast_json.loads(text) == fast_json.loads(memoryview(text)) == fast_json.loads(text.decode()) == RECORD
    written = fast_json.dumps(RECORD)
    assert written is not None and json.loads(written) == RECORD
    assert written.decode("utf-8").count("Zoë ✓ 名") == 1  # UTF-8, as Airtable sends it: not \u-escaped


def test_what_orjson_refuses_goes_to_the_standard_library() -> None:
    escaped = b'["\\ud800", 1]'  # a lone surrogate's escape: JSON can carry it, orjson will not read it
    assert fast_json.loads(escaped) == fast_json.loads(memoryview(escaped)) == ["\ud800", 1]
    assert fast_json.dumps({"cell": "\ud800"}) is None  # no UTF-8 form: the caller escapes it
    assert fast_json.dumps({"cell": 2**70}) is None  # past 64 bits: the standard library writes it exactly


def test_a_number_postgres_prints_in_full_reads_as_the_float_airtable_sends() -> None:
    # jsonb prints the number cell 1e30 as 31 digits; Airtable (JavaScript numbers) and the sandbox send 1e+30.
    assert fast_json.loads(b"1000000000000000000000000000000") == 1e30
    assert isinstance(fast_json.loads(b"1000000000000000000000000000000"), float)
