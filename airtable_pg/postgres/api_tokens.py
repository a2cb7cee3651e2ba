"""The API's tokens in ``airtable_sync.api_token``: issued, looked up by digest, listed, revoked.

A token is ``pat<14 characters>.<64 hex>``, shaped like an Airtable personal access token so every Airtable client
accepts it. Only the SHA-256 of the whole token is stored: the secret part is 256 random bits, so a fast digest is
as safe as a slow one and a lookup stays one index probe. Functions take the caller's cursor.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from psycopg import Cursor, sql

from airtable_pg.postgres.sync_state import state_table

_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    bases: tuple[str, ...]
    can_write: bool
    created_at: datetime
    revoked_at: datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh ``(id, token)``; the token is shown once and never stored."""
    token_id = "pat" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(14))
    return token_id, f"{token_id}.{secrets.token_hex(32)}"


_COLUMNS = sql.SQL("id, name, bases, can_write, created_at, revoked_at")


def _token(row: tuple) -> ApiToken:
    token_id, name, bases, can_write, created_at, revoked_at = row
    return ApiToken(token_id, name, tuple(bases), can_write, created_at, revoked_at)


def create_token(cur: Cursor, name: str, bases: list[str], *, can_write: bool) -> tuple[ApiToken, str]:
    """Issue a token; returns it and its secret text (the only time the text exists)."""
    token_id, token = new_token()
    cur.execute(
        sql.SQL(
            "insert into {} (id, name, secret_sha256, bases, can_write) values (%s, %s, %s, %s, %s) returning {}"
        ).format(state_table("api_token"), _COLUMNS),
        (token_id, name, digest(token), bases, can_write),
    )
    return _token(cur.fetchone()), token


def replace_token(cur: Cursor, name: str, bases: list[str], *, can_write: bool) -> tuple[ApiToken, str]:
    """Issue a token under ``name``, dropping the one that had it (``airtable-pg dev``'s token, each start)."""
    cur.execute(sql.SQL("delete from {} where name = %s").format(state_table("api_token")), (name,))
    return create_token(cur, name, bases, can_write=can_write)


def token_by_secret(cur: Cursor, token: str) -> ApiToken | None:
    """The live (unrevoked) token whose digest matches, or ``None``."""
    cur.execute(
        sql.SQL("select {} from {} where secret_sha256 = %s and revoked_at is null").format(
            _COLUMNS, state_table("api_token")
        ),
        (digest(token),),
    )
    row = cur.fetchone()
    return _token(row) if row else None


def list_tokens(cur: Cursor) -> list[ApiToken]:
    cur.execute(sql.SQL("select {} from {} order by created_at, id").format(_COLUMNS, state_table("api_token")))
    return [_token(row) for row in cur.fetchall()]


def revoke_token(cur: Cursor, name_or_id: str) -> bool:
    """Revoke by name or id; ``False`` when no live token has it."""
    cur.execute(
        sql.SQL("update {} set revoked_at = now() where (name = %s or id = %s) and revoked_at is null").format(
            state_table("api_token")
        ),
        (name_or_id, name_or_id),
    )
    return cur.rowcount > 0
