"""The grid every request slot lies on, and the per-token bucket's key: small pure functions, tested alone.

Airtable allows 5 requests/s per base and 50 requests/s per token, across all the token's bases. Both limits are
held by booking *slots* in buckets shared through Postgres (``airtable.rate_limit``). For a request to take "a slot
of both" buckets at once, the two must speak the same time: every slot is a whole number of grid **units** since
the epoch, one unit being a ``k``-th of a base's spacing, ``k = ⌊token limit / base limit⌋`` (10 by default:
208 ms / 10 = 20.8 ms). The token's bucket is a calendar holding at most one request per unit, so it never
passes ``1 / unit`` = 48 requests/s; a base's slots stay its spacing (10 units) apart, as before.

The token is never stored: its bucket is keyed by a fingerprint (16 hex digits of its SHA-256), enough to tell
a team's tokens apart and useless to anyone reading the table.
"""

from __future__ import annotations

import hashlib
import math

TOKEN_KEY_PREFIX = "token:"
# A base holds at most this many booked slots of a shared token's calendar at once (its fast lane excepted): its
# other requests wait in their process, and book when that slot has passed. So the calendar holds at most one
# booking per active base, and bookings go round: 20 bases syncing at once each get every 20th unit whatever
# their number of workers (fair share), and a request of a base that was idle, or of a fast lane, finds a free
# unit within ~20 units (0.4 s). One is enough for a base alone: its next slot is a spacing (10 units) after the
# one booked, and it is booked a unit after that one passes, well ahead of it.
BOOKED_AHEAD_PER_BASE = 1


def token_key(api_key: str) -> str:
    """The bucket key of ``api_key``'s per-token bucket: a fingerprint, never the token."""
    return TOKEN_KEY_PREFIX + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]


def grid_unit(requests_per_second: float, margin_seconds: float, token_requests_per_second: float | None) -> float:
    """Seconds per grid unit: a whole fraction of a base's spacing, and never shorter than the token allows."""
    spacing = 1.0 / requests_per_second + margin_seconds
    if not token_requests_per_second:
        return spacing / 10  # no token limit: a fine grid all the same, so an idle request waits little
    per_spacing = max(1, math.floor(token_requests_per_second / requests_per_second + 1e-9))
    return spacing / per_spacing


def units_at_or_after(seconds: float, unit: float) -> int:
    """The first grid unit at or after ``seconds``; a stored slot read back maps to itself (timestamps keep
    microseconds, so a thousandth of a unit, ~20 µs, absorbs their rounding)."""
    return math.ceil(seconds / unit - 1e-3)


def spacing_units(requests_per_second: float, margin_seconds: float, unit: float) -> int:
    """A base's spacing in whole units, rounded up: a base given a lower rate is never paced faster than that."""
    return max(1, units_at_or_after(1.0 / requests_per_second + margin_seconds, unit))
