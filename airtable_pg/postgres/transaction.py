"""One transaction on a pooled connection, as a psycopg cursor: the unit every writer and state function joins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa


@contextmanager
def transaction(db: sa.Engine) -> Iterator[psycopg.Cursor]:
    """Commit when the block ends, roll back when it raises; the connection goes back to the pool either way."""
    raw = db.raw_connection()
    conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        raw.close()


@contextmanager
def rolled_back(db: sa.Engine) -> Iterator[psycopg.Cursor]:
    """A transaction that never commits: what a write *would* do, with nothing kept (triggers and notifies too)."""
    raw = db.raw_connection()
    conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.rollback()
        raw.close()
