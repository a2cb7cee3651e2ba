"""JSON at the API's volume: orjson where it gives the same values, the standard library where it cannot.

A page of 100 records is ~80 kB of JSON parsed from Postgres and written to the client; the standard library's
parser and encoder took a third of a page's Python time. orjson refuses two things the mirror can hold and
Airtable can send, and both fall back to the standard library: a lone UTF-16 surrogate (no UTF-8 form; the
answer then goes out ``\\u``-escaped, see ``api.app.AirtableJSON``) and an integer beyond 64 bits on the way out.
(On the way in orjson reads such an integer as the float Airtable's JavaScript numbers are, which is what the
sandbox and Airtable answer for a number cell of ``1e30``; Postgres' ``jsonb`` prints it as 31 digits.)
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)


def dumps(value: Any) -> bytes | None:
    """UTF-8 JSON text, compact; ``None`` when only the standard library can write it (see the module's note)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one: a surrogate, a 65-bit integer, a type JSON has no form for
        return None
