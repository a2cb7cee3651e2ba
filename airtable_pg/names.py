"""Postgres names made from Airtable names: slugged, unique within their scope, at most 63 bytes.

Airtable allows any text (quotes, ``;``, emoji, 255 characters) as table and field names, and two
fields can slug to the same name. Postgres silently truncates identifiers past 63 bytes, which would
make two long names collide *after* the DDL ran. So every name is decided here, once, and the SQL
layer always quotes it: a hostile name is data, never SQL text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from airtable_pg.mirror_model import FIXED_COLUMN_NAMES

MAX_IDENTIFIER_BYTES = 63

# The schema holding every piece of sync state (runs, watermarks, rate-limit buckets, webhooks, queues).
STATE_SCHEMA = "airtable_sync"

# A Dagster instance prefix (build_defs' ``prefix``): Dagster names and resource keys (Python identifiers in ops'
# signatures) allow no more than this.
DAGSTER_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# Columns every mirror table has; a spec field may not take these names.
RESERVED_COLUMNS = FIXED_COLUMN_NAMES


def slug(name: str, *, fallback: str = "field") -> str:
    """Lower-case ASCII snake_case; unicode is transliterated where it can be, dropped where not."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if not text:
        text = fallback
    if text[0].isdigit():
        text = f"{fallback}_{text}"
    return text


def short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def fit(name: str, *, key: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """``name`` if it fits in ``limit`` bytes, else a prefix plus a hash of ``key`` (stable per Airtable id)."""
    if len(name.encode("utf-8")) <= limit:
        return name
    suffix = "_" + short_hash(key)
    prefix = name.encode("utf-8")[: limit - len(suffix)].decode("utf-8", "ignore").rstrip("_")
    return prefix + suffix


def unique_name(wanted: str, *, key: str, taken: set[str]) -> str:
    """A name not in ``taken`` (which it joins), disambiguated by a hash of ``key`` rather than a counter.

    A hash of the Airtable id keeps the choice stable no matter in which order fields are seen.
    """
    candidate = fit(wanted, key=key)
    if candidate in taken:
        suffix = "_" + short_hash(key)
        candidate = fit(wanted, key=key, limit=MAX_IDENTIFIER_BYTES - len(suffix)) + suffix
        salt = 0
        while candidate in taken:  # two keys with the same 6-hex prefix: vanishingly rare, still handled
            salt += 1
            candidate = fit(wanted, key=key, limit=MAX_IDENTIFIER_BYTES - 12) + "_" + short_hash(f"{key}:{salt}", 11)
    taken.add(candidate)
    return candidate


def column_names(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Field id → column name for ``(field_id, airtable_name)`` pairs, avoiding reserved columns."""
    taken = set(RESERVED_COLUMNS)
    return {field_id: unique_name(slug(name), key=field_id, taken=taken) for field_id, name in fields}


def join_table_name(mirror_table: str, column: str, *, key: str) -> str:
    """``<table>__<column>``: the join table of one linked-record field."""
    return fit(f"{mirror_table}__{column}", key=key)


def is_valid_identifier(name: str) -> bool:
    return bool(name) and len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES and "\x00" not in name
