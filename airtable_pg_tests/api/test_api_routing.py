"""The API serves each entity where its backend flag says: Airtable (relayed), shadow (Airtable, with the mirror's
answer compared off the request path) or the mirror; a flip reaches the running API within a second."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest
from pyairtable import Api

from airtable_pg.api.app import build_app
from airtable_pg.api.params import ListOptions
from airtable_pg.api.pg_writes import PostgresWrites
from airtable_pg.api.routing import MAX_WAITING, Router
from airtable_pg.api.tables import Catalog
from airtable_pg.api.writes import Forwarder
from airtable_pg.postgres import api_tokens
from airtable_pg.postgres import shadow_reads as shadow_store
from airtable_pg.postgres.api_reads import MirrorReader
from airtable_pg.postgres.database import connection_pool, libpq_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg.receiver.server import ReceiverServer
from airtable_pg.routing import BackendFlags
from airtable_pg.routing.shadow import ShadowPolicy, ShadowReads, shadow_reads
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import admin, make_sync_engine, records_path, sandbox_runtime
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.demo import DEMO_BASE_ID

SPEC = load_spec()
USERS = SPEC.bases["coaching"].tables["users"]
NAME_FIELD = "fldUsrName0000000"


def served(sandbox, database_url: str, **options):
    with make_sync_engine(sandbox, database_url) as engine:
        engine.sync_table("coaching", "users", "full")
    runtime = sandbox_runtime(sandbox, database_url, SPEC)
    with transaction(runtime.db) as cur:
        token = api_tokens.replace_token(cur, "routing", [DEMO_BASE_ID], can_write=False)[1]
    return ReceiverServer(build_app(SPEC, database_url, runtime.api, **options)), token


def make_mirror_differ(database_url: str) -> str:
    """One user's name changed in the mirror only: which side answered shows in the answer."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(
            "update airtable.users set fields = jsonb_set(fields, '{fldUsrName0000000}', '\"Only In Postgres\"') "
            "where airtable_id = (select min(airtable_id) from airtable.users) returning airtable_id"
        ).fetchone()[0]


def names(api: Api) -> set[str]:
    return {r["fields"].get("name") for r in api.table(DEMO_BASE_ID, "users").all()}


def test_airtable_serves_until_the_flag_moves_and_a_flip_reaches_the_api_within_a_second(sandbox, database_url) -> None:
    server, token = served(sandbox, database_url)
    make_mirror_differ(database_url)
    flags = BackendFlags(connection_pool(database_url), SPEC, environ={})
    with server:
        api = Api(token, endpoint_url=server.url)
        before = sandbox.stats()["bases"][DEMO_BASE_ID]["served"]
        assert "Only In Postgres" not in names(api)  # the default, airtable: Airtable's own answer, relayed
        assert sandbox.stats()["bases"][DEMO_BASE_ID]["served"] > before

        flags.set("users", "postgres_primary", reason="test", force=True)
        # a deadline: the flip takes one flags TTL (0.5 s, tests/routing/test_flags.py), a loaded machine longer
        wait_until(lambda: "Only In Postgres" in names(api), timeout=30, what="the API to serve the mirror")
        before = sandbox.stats()["bases"][DEMO_BASE_ID]["served"]
        api.table(DEMO_BASE_ID, "users").all()
        assert sandbox.stats()["bases"][DEMO_BASE_ID]["served"] == before  # no Airtable request for a read


def test_shadow_answers_from_airtable_and_finds_the_mirrors_difference_off_the_request_path(
    sandbox, database_url
) -> None:
    slow = ShadowPolicy(recheck_seconds=60.0)  # the re-check waits a minute: the answer must not
    server, token = served(sandbox, database_url, shadow_policy=slow)
    differing = make_mirror_differ(database_url)
    BackendFlags(connection_pool(database_url), SPEC, environ={}).set("users", "shadow", reason="test")
    with server:
        api = Api(token, endpoint_url=server.url)
        assert "Only In Postgres" not in names(api)  # served from Airtable, at once
        with transaction(connection_pool(database_url)) as cur:
            assert shadow_store.tally(cur, "coaching.users", timedelta(hours=1)) == {}  # still re-checking

    # The sync just applied a change to that record: within the in-flight window it would be set aside, rightly.
    quick = ShadowPolicy(recheck_seconds=0.1, in_flight_seconds=0.0)
    server, token = served(sandbox, database_url, shadow_policy=quick)  # its sync put Airtable's name back
    assert make_mirror_differ(database_url) == differing
    with server:
        Api(token, endpoint_url=server.url).table(DEMO_BASE_ID, "users").all()  # one first page holds every user
        db = connection_pool(database_url)

        def recorded() -> list[shadow_store.StoredMismatch]:
            with transaction(db) as cur:
                return shadow_store.recent_mismatches(cur, "coaching.users", timedelta(hours=1), 10)

        [mismatch] = wait_until(recorded, timeout=30, what="the shadow comparison")
    assert mismatch.record_id == differing and mismatch.postgres == "Only In Postgres"
    assert mismatch.request.startswith("GET /v0/") and "Bearer" not in mismatch.request


def test_a_clean_window_with_live_edits_is_not_flagged(sandbox, database_url) -> None:
    """A/A: both backends hold the same data while people edit users in Airtable and the sync follows. Reads in
    every shape (no sort, sorted, filtered, one record) are compared; fresh edits are set aside, none is a mismatch.
    """
    server, token = served(sandbox, database_url, shadow_policy=ShadowPolicy(recheck_seconds=1.5))
    flags = BackendFlags(connection_pool(database_url), SPEC, environ={})
    flags.set("users", "shadow", reason="A/A calibration")
    db = connection_pool(database_url)
    with psycopg.connect(libpq_url(database_url)) as conn:
        user_ids = [row[0] for row in conn.execute("select airtable_id from airtable.users order by airtable_id")]
    stop_editing, stop_following = threading.Event(), threading.Event()

    def edit_in_airtable() -> None:  # a person in the Airtable UI, renaming a user every 0.2 s
        edit = 0
        while not stop_editing.wait(0.2):
            path = f"{records_path(DEMO_BASE_ID, USERS.id)}/{user_ids[edit % len(user_ids)]}"
            admin(sandbox, "PATCH", path, json={"fields": {NAME_FIELD: f"Renamed {edit}"}})
            edit += 1

    following = threading.Lock()  # held by each pass of the sync; the test holds it to make the mirror lag

    def follow() -> None:  # the poll path, as the safety-net sensor runs it, as often as it can
        with make_sync_engine(sandbox, database_url) as engine:
            while not stop_following.wait(0.05):
                with following:
                    engine.sync_table("coaching", "users", "incremental")

    workers = [threading.Thread(target=edit_in_airtable), threading.Thread(target=follow)]

    def tallied() -> shadow_store.ShadowTally | None:
        with transaction(db) as cur:
            found = shadow_store.tally(cur, "coaching.users", timedelta(hours=1)).get("coaching.users")
        return found if found and found.compared == reads else None

    with server:
        for worker in workers:
            worker.start()
        try:
            table = Api(token, endpoint_url=server.url).table(DEMO_BASE_ID, "users")
            reads = 0
            for round_ in range(5):
                table.all()
                table.all(sort=["-name"])
                table.all(formula="FIND('Renamed', {name})")
                table.get(user_ids[round_ % len(user_ids)])
                reads += 4
            with following:  # Airtable holds an edit the mirror has not seen yet: in flight, not a mismatch
                path = f"{records_path(DEMO_BASE_ID, USERS.id)}/{user_ids[0]}"
                admin(sandbox, "PATCH", path, json={"fields": {NAME_FIELD: "Renamed while the sync waits"}})
                assert table.get(user_ids[0])["fields"]["name"] == "Renamed while the sync waits"
                reads += 1
            stop_editing.set()
            # The sync goes on following until every read is judged: stopped with the edits, it once left the
            # last edit unsynced for good on a quiet machine, and a mirror that never catches up is rightly flagged.
            tally = wait_until(tallied, timeout=60, what="every read compared")
        finally:
            stop_editing.set()
            stop_following.set()
            for worker in workers:
                worker.join()
        with transaction(db) as cur:
            kept = shadow_store.recent_mismatches(cur, "coaching.users", timedelta(hours=1), 10)
    assert tally.mismatched == 0 and tally.errors == 0, (tally, kept)
    assert tally.in_flight >= 1  # at least the read made while the sync waited


@pytest.mark.parametrize("mode", ["airtable", "shadow"])
def test_an_api_without_an_airtable_token_serves_the_mirror_whatever_the_flag(sandbox, database_url, mode) -> None:
    with make_sync_engine(sandbox, database_url) as engine:
        engine.sync_table("coaching", "users", "full")
    make_mirror_differ(database_url)
    db = connection_pool(database_url)
    with transaction(db) as cur:
        token = api_tokens.create_token(cur, "routing", [DEMO_BASE_ID], can_write=False)[1]
    BackendFlags(db, SPEC, environ={}).set("users", mode, reason="test")
    with ReceiverServer(build_app(SPEC, database_url, None)) as server:
        assert "Only In Postgres" in names(Api(token, endpoint_url=server.url))


class GatedShadowReads(ShadowReads):
    """Comparisons that wait for the test to open the gate: the API's comparison queue fills up."""

    gate = threading.Event()

    def compare(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.gate.wait(30)
        return super().compare(*args, **kwargs)


def test_reads_beyond_a_full_comparison_queue_are_served_uncompared_and_counted(database_url) -> None:
    db = connection_pool(database_url)
    shadow = GatedShadowReads(db, SPEC, ShadowPolicy(recheck_seconds=0.0))
    writes = Forwarder(None, db, PostgresWrites(db, None, wait_seconds=0))
    router = Router(BackendFlags(db, SPEC, environ={}), shadow, MirrorReader(database_url), writes)
    served = Catalog(SPEC).table(DEMO_BASE_ID, USERS.id)
    try:
        for _ in range(MAX_WAITING + 3):  # three more reads than the queue holds; both sides answer no record
            router.after_list(served, ListOptions(), "GET /v0/…", {"records": []})
        shadow.gate.set()

        def tallied() -> shadow_store.ShadowTally | None:
            with transaction(db) as cur:
                found = shadow_store.tally(cur, "coaching.users", timedelta(hours=1)).get("coaching.users")
            return found if found and found.compared == MAX_WAITING else None

        tally = wait_until(tallied, timeout=60, what="every queued read compared")
    finally:
        router.close()
    assert tally.skipped == 3 and tally.compared == MAX_WAITING  # none lost, none compared twice
    assert shadow_reads(db, SPEC.bases["coaching"], USERS).details["skipped"] == 3
