"""Users created in Airtable at a steady rate, and how long each took to reach Postgres.

Users are created through the sandbox's back-office path (``POST /_sandbox/…/records``: a person in the Airtable
UI, never rate-limited, so the measurement spends none of the base's 5 requests/s). Each user's latency is timed
from Airtable's ``createdTime`` two ways:

- **committed**: the user's first ``airtable_sync.change_event`` (``applied_at``, the write's clock time inside the
  committing transaction), what ``airtable-pg status`` reports;
- **visible**: the first moment a poll of the mirror table (every 50 ms, a connection of its own) saw the row,
  an independent upper bound (+ up to one poll interval).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import requests

from airtable_pg.postgres.database import libpq_url
from airtable_sandbox.demo import USER_FIELDS
from benchmarks.full_sync import DEMO_BASE_ID, TOKEN
from benchmarks.outbound import percentile

USERS_TABLE = "tblUsers000000001"
WATCH_INTERVAL_SECONDS = 0.05


@dataclass
class Created:
    record_id: str
    created_at: float  # Airtable's createdTime, seconds since the epoch


@dataclass
class Provisioning:
    """Users created at ``rate`` per second by a thread; ``created`` grows as they are."""

    sandbox_url: str
    count: int
    rate: float
    label: str
    on_created: Callable[[list[Created]], None] | None = None  # e.g. a MirrorWatcher's await_users
    token: str = TOKEN
    created: list[Created] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> Provisioning:
        self._thread = threading.Thread(target=self._create_all, name=f"users-{self.label}", daemon=True)
        self._thread.start()
        return self

    def join(self) -> list[Created]:
        assert self._thread is not None
        self._thread.join()
        return self.created

    def _create_all(self) -> None:
        url = f"{self.sandbox_url}/_sandbox/bases/{DEMO_BASE_ID}/tables/{USERS_TABLE}/records"
        started = time.monotonic()
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {self.token}"
            for n in range(self.count):
                time.sleep(max(0.0, started + n / self.rate - time.monotonic()))  # steady, never bunched up
                name = f"Bench {self.label} {n}"
                fields = {USER_FIELDS["name"]: name, USER_FIELDS["email"]: f"bench.{self.label}.{n}@example.com"}
                answer = session.post(url, json={"fields": fields}, timeout=30)
                answer.raise_for_status()
                body = answer.json()
                user = Created(body["id"], _epoch(body["createdTime"]))
                self.created.append(user)
                if self.on_created is not None:
                    self.on_created([user])


class MirrorWatcher:
    """Notes when each awaited user first shows in ``airtable.users``, polling from a connection of its own."""

    def __init__(self, database_url: str) -> None:
        self._url = libpq_url(database_url)
        self.seen: dict[str, float] = {}
        self._awaited: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mirror-watcher", daemon=True)
        self._thread.start()

    def await_users(self, created: list[Created]) -> None:
        with self._lock:
            self._awaited |= {user.record_id for user in created} - set(self.seen)

    def wait_for_all(self, source: Provisioning, timeout: float) -> bool:
        """After ``source`` finished: whether every user it created showed within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.await_users(source.created)
            with self._lock:
                if not self._awaited:
                    return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.wait(WATCH_INTERVAL_SECONDS):
                with self._lock:
                    awaited = list(self._awaited)
                if not awaited:
                    continue
                found = conn.execute("select airtable_id from airtable.users where airtable_id = any(%s)", (awaited,))
                now = time.time()
                with self._lock:
                    for (record_id,) in found.fetchall():
                        self.seen.setdefault(record_id, now)
                        self._awaited.discard(record_id)


def first_events(database_url: str, created: list[Created]) -> dict[str, tuple[float, str]]:
    """Each user's first change event: ``{record id: (applied_at as epoch seconds, source)}``."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "select distinct on (airtable_id) airtable_id, extract(epoch from applied_at)::float8, source "
            "from airtable_sync.change_event where table_id = %s and airtable_id = any(%s) "
            "order by airtable_id, applied_at",
            (USERS_TABLE, [user.record_id for user in created]),
        ).fetchall()
    return {record_id: (applied, source) for record_id, applied, source in rows}


def latency_report(database_url: str, created: list[Created], seen: dict[str, float]) -> dict:
    events = first_events(database_url, created)
    committed = [events[u.record_id][0] - u.created_at for u in created if u.record_id in events]
    visible = [seen[u.record_id] - u.created_at for u in created if u.record_id in seen]
    sources: dict[str, int] = {}
    for _, source in events.values():
        sources[source] = sources.get(source, 0) + 1
    return {
        "users": len(created),
        "committed": summarize(committed),
        "visible": summarize(visible),
        "missing": len(created) - len(events),
        "by_source": sources,  # webhook, or a sync that read the user before its payload came
    }


def summarize(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_s": statistics.median(values),
        "p95_s": percentile(values, 0.95),
        "p99_s": percentile(values, 0.99),
        "max_s": max(values),
        "min_s": min(values),
    }


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
