"""One follower per base: ``webhooks apply --follow`` holds a session advisory lock per base while it follows.

A second follower (say, a terminal beside ``make dev``'s own applier) waits, says for whom, and takes over when the
holder stops: the holder's connection closes and Postgres releases its locks, however it ended (Ctrl-C, kill -9, a
lost machine). Two followers would only race for the same hook row lock and split the output between them.

The holder is named by its lock connection's ``application_name`` (since, pid, host): ``pg_stat_activity`` shows that
column to every role, while the session's own start time is hidden from other roles, so the name carries it.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from airtable_pg.postgres.database import libpq_url

# The first key of the two-key advisory lock: airtable_pg's followers, apart from any other advisory lock user.
NAMESPACE = 0x61706677  # "apfw"
_NAME = re.compile(r"^since (?P<since>\S+) pid (?P<pid>\d+) host (?P<host>.*)$")


@dataclass(frozen=True)
class Holder:
    """Who follows a base now: as much as its application_name tells (Postgres truncates it to 63 bytes)."""

    pid: str
    host: str
    since: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host or '?'}, since {self.since}"


def own_name(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"since {moment} pid {os.getpid()} host {socket.gethostname()}"[:63]


class FollowLock:
    """A dedicated connection holding this process's follow locks until :meth:`close`."""

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(libpq_url(database_url), autocommit=True, application_name=own_name())

    def try_acquire(self, base_id: str) -> Holder | None:
        """``None`` when this process now follows ``base_id``; else who does (``Holder`` with blanks if unknown)."""
        row = self._conn.execute(
            "select pg_try_advisory_lock(%s, hashtext(%s) & 2147483647)", (NAMESPACE, base_id)
        ).fetchone()
        if row and row[0]:
            return None
        found = self._conn.execute(
            "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.classid = %s::oid "
            "and l.objid = (hashtext(%s) & 2147483647)::oid and l.objsubid = 2",
            (NAMESPACE, base_id),
        ).fetchone()
        match = _NAME.match(found[0] or "") if found else None
        if match is None:
            return Holder(pid="?", host="?", since="?")
        return Holder(pid=match["pid"], host=match["host"], since=match["since"])

    def close(self) -> None:
        self._conn.close()  # the locks go with the session

    def __enter__(self) -> FollowLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
