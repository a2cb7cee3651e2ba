"""Bearer tokens airtable_pg issued (``airtable-pg api tokens create``), checked as Airtable checks its own.

A missing, malformed, unknown or revoked token gets Airtable's 401 ``AUTHENTICATION_REQUIRED``; a token without
the base, or a read-only token on a write, gets its 403. Verified tokens are remembered for
:data:`CACHE_SECONDS` by digest (a page costs no token lookup; a revocation takes effect within that time).
The token text is never logged, stored or echoed: only its digest is kept, in memory and in Postgres.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from airtable_pg.api.errors import ApiError, authentication_required, model_not_found
from airtable_pg.postgres.api_tokens import ApiToken, digest

CACHE_SECONDS = 5.0
MAX_TOKEN_CHARS = 200  # ours are 82; a longer header is not a token of ours and is not hashed
_CACHE_LIMIT = 10_000

Lookup = Callable[[str], ApiToken | None]  # token text → the live token, from the database


class _Unknown(enum.Enum):
    """Not remembered (as opposed to ``None``: remembered as no token of ours)."""

    TOKEN = enum.auto()


class Authenticator:
    def __init__(self, lookup: Lookup, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._clock = clock
        self._cache: dict[str, tuple[float, ApiToken | None]] = {}
        self._lock = threading.Lock()

    def token(self, authorization: str | None) -> ApiToken:
        """The token an ``Authorization`` header carries, or Airtable's 401 (may look it up in the database)."""
        text = _text(authorization)
        key = digest(text)
        known = self._fresh(key)
        if known is _Unknown.TOKEN:
            asked_at = self._clock()  # before the lookup: a revocation during it must not be remembered longer
            known = self._lookup(text)
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:  # a flood of bad tokens must not grow memory
                    self._cache.clear()
                self._cache[key] = (asked_at, known)
        if known is None:
            raise authentication_required()
        return known

    def remembered(self, authorization: str | None) -> ApiToken | None:
        """The token if it was verified moments ago (no database: the event loop may call this), else ``None``;
        Airtable's 401 for a header that is no token or a token known to be bad."""
        known = self._fresh(digest(_text(authorization)))
        if known is None:
            raise authentication_required()
        return None if known is _Unknown.TOKEN else known

    def _fresh(self, key: str) -> ApiToken | _Unknown | None:
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or self._clock() - cached[0] >= CACHE_SECONDS:
            return _Unknown.TOKEN
        return cached[1]


def _text(authorization: str | None) -> str:
    """The token text of a bearer header; Airtable's 401 for anything else."""
    if not authorization:
        raise authentication_required()
    scheme, _, text = authorization.partition(" ")
    text = text.strip()
    if scheme.lower() != "bearer" or not text or len(text) > MAX_TOKEN_CHARS:
        raise authentication_required()
    return text


def require_base(token: ApiToken, base_id: str, *, write: bool = False) -> None:
    """403 for a base the token was not given (as Airtable answers for a base you cannot see) or a write it may
    not make."""
    if base_id not in token.bases:
        raise model_not_found()
    if write and not token.can_write:
        raise ApiError(403, "INVALID_PERMISSIONS", "You are not permitted to perform this operation")
