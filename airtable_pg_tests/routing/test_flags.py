"""Per-entity backend flags: stored in Postgres with an audit trail, seen by every process within a second,
pinned by the environment, refused where a cutover's gates are skipped, and readable from SQL."""

from __future__ import annotations

import itertools
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa

from airtable_pg.postgres.backend_flags import flag_history
from airtable_pg.postgres.database import connection_pool, libpq_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing import BackendFlags, FlagError, backend_for
from airtable_pg.spec import load_spec
from airtable_pg_tests.waiting import wait_until

SPEC = load_spec()


@pytest.fixture
def flags(database_url: str) -> BackendFlags:
    return BackendFlags(connection_pool(database_url), SPEC, environ={})


def history(flags: BackendFlags, entity: str | None = None):
    with transaction(flags.db) as cur:
        return flag_history(cur, entity, 100)


def test_every_entity_starts_on_airtable_and_a_change_is_stored_with_who_when_and_why(flags) -> None:
    assert {f.entity: f.mode for f in flags.all()} == dict.fromkeys(
        (f"{b.key}.{t.key}" for b, t in SPEC.tables()), "airtable"
    )
    assert flags.flag("users").version == 0 and flags.flag("users").since is None
    previous, flag = flags.set("users", "shadow", reason="compare before the switch", actor="ops@example.com")
    assert previous == "airtable" and flag.mode == flag.stored == "shadow" and flag.version == 1
    assert flag.updated_by == "ops@example.com" and flag.reason == "compare before the switch" and flag.since
    assert flags.flag("coaching.users").mode == "shadow"  # by base.table as well as by table key
    [change] = history(flags, "coaching.users")
    assert (change.from_mode, change.to_mode, change.actor, change.source, change.forced) == (
        "airtable",
        "shadow",
        "ops@example.com",
        "cli",
        False,
    )


def test_postgres_primary_is_the_cutovers_to_set_and_bad_requests_are_refused(flags) -> None:
    with pytest.raises(FlagError, match=r"airtable-pg cutover coaching.users"):
        flags.set("coaching.users", "postgres_primary", reason="let's go")
    with pytest.raises(FlagError, match="--reason"):
        flags.set("users", "shadow", reason="  ")
    with pytest.raises(FlagError, match="mode must be one of"):
        flags.set("users", "postgres", reason="typo")
    with pytest.raises(KeyError, match="matches no table"):
        flags.set("nope", "shadow", reason="typo")
    assert history(flags) == []  # nothing refused left a trace
    _, flag = flags.set("users", "postgres_primary", reason="incident: Airtable down", force=True)
    assert flag.mode == "postgres_primary" and history(flags)[0].forced


def test_a_change_reaches_another_process_within_a_second(flags, database_url) -> None:
    """Another API process (its own pool) reads the flags at most every half second: a flip reaches it in < 1 s."""
    other = BackendFlags(connection_pool(database_url), SPEC, environ={})
    assert other.mode("users") == "airtable"  # cached now
    flags.set("users", "shadow", reason="test")
    flipped = time.monotonic()
    wait_until(lambda: other.mode("users") == "shadow", timeout=5.0, interval=0.02, what="the other process's flag")
    assert time.monotonic() - flipped < 1.0


def test_an_environment_pin_wins_is_shown_and_an_invalid_one_falls_back_to_airtable(database_url, flags) -> None:
    flags.set("users", "shadow", reason="test")
    pinned = BackendFlags(
        connection_pool(database_url), SPEC,
        environ={"DATA_BACKEND_USERS": "postgres_primary", "DATA_BACKEND_COACHING__USERS": "airtable",
                 "DATA_BACKEND_PROGRAMS": "Postgres_Primary", "DATA_BACKEND_METHODS": "postgres"},
    )  # fmt: skip
    users = pinned.flag("users")
    assert (users.mode, users.stored, users.pinned_by) == ("airtable", "shadow", "DATA_BACKEND_COACHING__USERS")
    assert pinned.flag("programs").mode == "postgres_primary"  # case does not matter
    methods = pinned.flag("methods")
    assert methods.mode == "airtable" and "DATA_BACKEND_METHODS='postgres' is not one of" in methods.pin_problem


def test_concurrent_flips_are_serialized_and_the_audit_chain_has_no_gap(flags) -> None:
    modes = ["airtable", "shadow"]

    def flip(worker: int) -> None:
        for index in range(10):
            flags.set("users", modes[(worker + index) % 2], reason=f"worker {worker} flip {index}")

    workers = [threading.Thread(target=flip, args=(n,)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    changes = list(reversed(history(flags, "coaching.users")))
    assert len(changes) == 30 and changes[0].from_mode == "airtable"
    assert all(before.to_mode == after.from_mode for before, after in itertools.pairwise(changes))
    assert flags.flag("users").version == 30 and flags.flag("users").stored == changes[-1].to_mode


def test_apps_reading_postgres_follow_the_same_switch_in_sql_and_python(flags, database_url, monkeypatch) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("select airtable_sync.backend_mode('coaching.users')").fetchone()[0] == "airtable"
        flags.set("users", "shadow", reason="test")
        assert conn.execute("select airtable_sync.backend_mode('coaching.users')").fetchone()[0] == "shadow"
    monkeypatch.delenv("DATA_BACKEND_USERS", raising=False)
    assert backend_for("coaching.users", database_url=database_url, spec_path=SPEC.path) == "shadow"
    monkeypatch.setenv("DATA_BACKEND_USERS", "airtable")
    assert backend_for("coaching.users", database_url=database_url, spec_path=SPEC.path) == "airtable"


def test_the_flags_fail_safe_to_airtable_when_postgres_is_unreachable() -> None:
    unreachable = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    assert BackendFlags(unreachable, SPEC, environ={}).mode("users") == "airtable"


def test_the_api_reads_a_flag_from_memory_only_while_it_is_fresh(database_url) -> None:
    """The API's event loop asks ``mode_if_fresh``: an answer only from flags read within the TTL, never a database
    read nor a wait for a thread doing one (``None`` sends the caller to ``mode`` on a worker thread)."""
    now = [100.0]
    flags = BackendFlags(connection_pool(database_url), SPEC, environ={}, clock=lambda: now[0])
    assert flags.mode_if_fresh("users") is None  # never read
    assert flags.mode("users") == "airtable"
    assert flags.mode_if_fresh("users") == "airtable"
    BackendFlags(connection_pool(database_url), SPEC, environ={}).set("users", "shadow", reason="test")
    now[0] += 0.4
    assert flags.mode_if_fresh("users") == "airtable"  # within the TTL, as mode() itself answers
    now[0] += 0.2
    assert flags.mode_if_fresh("users") is None  # stale: mode() reads again
    assert flags.mode("users") == "shadow" and flags.mode_if_fresh("users") == "shadow"
    with flags._lock:  # a worker thread is reading the flags: the loop does not wait for it
        assert flags.mode_if_fresh("users") is None
