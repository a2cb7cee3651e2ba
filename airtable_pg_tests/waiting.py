"""Waiting in tests by condition, never by a fixed sleep: a deadline loop that says what it waited for."""

from __future__ import annotations

import contextlib
import faulthandler
import sys
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.02) -> T:
    """Return ``condition()``'s first truthy value; fail naming ``what`` if none came within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def stacks_if_stuck(seconds: float) -> Iterator[None]:
    """Print every thread's stack to stderr (pytest shows it with a failure) if the block is still running after
    ``seconds``: a wait that should take milliseconds and once took over 10 s on a loaded machine says where."""
    faulthandler.dump_traceback_later(seconds, file=sys.stderr)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def wait_until_listening(database_url: str, channel: str, timeout: float = 10) -> None:
    """Wait until some session of the database has run ``LISTEN channel`` (a follower is ready to be woken)."""
    import psycopg

    from airtable_pg.postgres.database import libpq_url

    def listening() -> bool:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
            found = conn.execute(
                "select 1 from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
                " and query ilike %s",
                (f"listen {channel}",),
            ).fetchone()
        return found is not None

    wait_until(listening, timeout=timeout, what=f"a listener on {channel}", interval=0.05)
