"""List offsets that need no server state: the key of the last row a page consumed, bound to its listing.

Airtable's offsets name a server-side iterator (``itr…/rec…``); ours carry where the next page starts instead, so
any worker of any process can serve the next page and nothing expires while a client is idle. ``itr`` + a
fingerprint of the listing (table, formula, sort) + ``/`` + the position, base64url: an offset sent with another
listing's parameters is refused as Airtable refuses a stale iterator, a mangled one as an invalid offset.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airtable_pg.api.errors import ApiError, unprocessable

_AIRTABLE_OFFSET = re.compile(r"^itr[0-9A-Za-z]{14}/rec[0-9A-Za-z]{14}$")
_OFFSET = re.compile(r"^itr([0-9a-f]{14})/([A-Za-z0-9_-]{1,4000})$")


@dataclass(frozen=True)
class Position:
    created: datetime  # the last consumed row's key: (airtable_created_time, airtable_id) …
    record_id: str
    returned: int  # records served so far (for maxRecords)
    sort_keys: tuple[tuple[int, Any], ...] = ()  # … preceded, in a sorted listing, by its sort keys


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:14]


def encode(listing: str, position: Position) -> str:
    payload = [
        position.created.isoformat(),
        position.record_id,
        position.returned,
        [list(k) for k in position.sort_keys],
    ]
    text = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"itr{listing}/{text}"


def decode(listing: str, offset: str) -> Position:
    match = _OFFSET.match(offset)
    if match is None:
        raise _invalid(offset)
    if match.group(1) != listing:
        raise ApiError(422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE")
    text = match.group(2)
    try:
        created, record_id, returned, sort_keys = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        position = Position(
            datetime.fromisoformat(created), str(record_id), int(returned), tuple((int(k), v) for k, v in sort_keys)
        )
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise _invalid(offset) from None
    if position.created.tzinfo is None or position.returned < 0 or not all(map(_valid_key, position.sort_keys)):
        raise _invalid(offset)
    return position


def issued_by_airtable(offset: str) -> bool:
    """Airtable's own ``itr…/rec…`` (ours never carry a record id after the slash): the listing is Airtable's."""
    return _AIRTABLE_OFFSET.match(offset) is not None


def _valid_key(key: tuple[int, Any]) -> bool:
    """A key :func:`airtable_formula.ordering.sort_key` could have made (anything else would not compare)."""
    rank, value = key
    if rank == 0:
        return value == 0
    if rank == 1:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return rank in (2, 3) and isinstance(value, str)


def _invalid(offset: str) -> ApiError:
    shown = offset if len(offset) <= 100 else offset[:100] + "…"
    return unprocessable("INVALID_OFFSET_VALUE", f"The value of offset {shown} is invalid")
