"""Cells Postgres cannot store as they are, in an escaped form that round-trips; and the way back.

Postgres ``jsonb`` (and ``text``) cannot hold the character U+0000 (``UntranslatableCharacter``), nor a
lone UTF-16 surrogate (U+D800–U+DFFF, which has no UTF-8 form). Airtable accepts NUL in any text, so one
such cell would make every page holding it fail, and the table would never sync again. Instead the
whole cell is stored in ``fields`` as a **marker object** whose one member holds the cell's JSON text:

    "nul\\x00byte"   →   {"$airtable_pg_escaped": "\\"nul\\\\u0000byte\\""}

Why a marker object around the JSON text, rather than an escape sequence inside strings:

- Cells without NUL (all but a handful) are stored exactly as Airtable returned them, untouched; an
  escape character would have to be escaped in every string that holds it, changing ordinary cells.
- JSON text escapes NUL and surrogates as ``\\u0000`` / ``\\ud800`` by its own rules, so the payload is
  plain ASCII that Postgres stores, and any language decodes it with its JSON parser.
- It is unambiguous: decoding looks only at a cell's top level, and a cell that *is* a one-member
  object keyed ``$airtable_pg_escaped`` is itself escaped, so a stored marker object always means an
  escape. (Airtable's own cell objects never have that shape; the rule makes it certain.)

Decode with :func:`unescape_fields` (a row's whole ``fields``) or :func:`unescape_cell`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

ESCAPED_KEY = "$airtable_pg_escaped"

_surrogate_in = re.compile("[\ud800-\udfff]").search
_NONE: frozenset[str] = frozenset()

# The checks below run on every cell of every record, so they are written for CPython's speed rather than
# brevity: type() identity tests, the string test inlined, no helper call per string. ``"\x00" in text``
# is a memchr and ``isascii()`` is O(1), so only non-ASCII text pays for the surrogate search.


def unstorable_cells(cells: Mapping[str, Any]) -> frozenset[str] | set[str]:
    """Ids of the cells that must be stored escaped (usually none: an empty frozenset, nothing allocated)."""
    found: set[str] | None = None
    for field_id, value in cells.items():
        kind = type(value)
        if kind is str:
            if "\x00" not in value and (value.isascii() or _surrogate_in(value) is None):
                continue
        elif kind is list:
            if value and type(value[0]) is str:  # selects, links: one C-level join, one test
                try:
                    text = "".join(value)
                except TypeError:  # a mixed list
                    if storable(value):
                        continue
                else:
                    if "\x00" not in text and (text.isascii() or _surrogate_in(text) is None):
                        continue
            elif storable(value):
                continue
        elif kind is dict:
            if storable(value) and not (len(value) == 1 and ESCAPED_KEY in value):
                continue
        else:
            continue  # numbers, booleans
        if found is None:
            found = set()
        found.add(field_id)
    return _NONE if found is None else found


def storable(value: Any) -> bool:
    """Whether Postgres can hold ``value`` (any JSON-shaped value, nested) as it is."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value and (value.isascii() or _surrogate_in(value) is None)
    if kind is dict:
        for key in value:
            if "\x00" in key or not (key.isascii() or _surrogate_in(key) is None):
                return False
        items: Iterable[Any] = value.values()
    elif kind is list:
        items = value
    else:
        return True  # numbers, booleans, null
    for item in items:
        item_kind = type(item)
        if item_kind is str:
            if "\x00" in item or not (item.isascii() or _surrogate_in(item) is None):
                return False
        elif (item_kind is dict or item_kind is list) and not storable(item):
            return False
    return True


def escape_cell(cell: Any) -> dict[str, str]:
    """The marker object holding ``cell``'s JSON text (ASCII: NUL and surrogates become ``\\u`` escapes)."""
    return {ESCAPED_KEY: json.dumps(cell, ensure_ascii=True, separators=(",", ":"))}


def unescape_cell(cell: Any) -> Any:
    """The cell as Airtable returned it, from its form in ``fields``."""
    if type(cell) is dict and len(cell) == 1 and type(cell.get(ESCAPED_KEY)) is str:
        return json.loads(cell[ESCAPED_KEY])
    return cell


def unescape_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A mirror row's ``fields`` jsonb (as read from Postgres) → the cells exactly as Airtable returned them."""
    return {field_id: unescape_cell(cell) for field_id, cell in fields.items()}
