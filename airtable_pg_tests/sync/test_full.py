"""Full sync against the sandbox over HTTP and the embedded Postgres: equality, idempotence, tombstones, crashes."""

from __future__ import annotations

import threading
from datetime import datetime

import psycopg
import pytest
from pyairtable import Api

from airtable_pg.airtable.rate_limit import Cancelled
from airtable_pg.postgres.database import libpq_url
from airtable_pg.postgres.table_store import TableStore
from airtable_pg.spec import load_spec
from airtable_pg.sync.engine import ProgressEvent, SyncEngine
from airtable_pg_tests.sync_helpers import admin, assert_mirror_matches, make_sync_engine, mirror_rows, records_path
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox
from airtable_sandbox.store import ITERATOR_IDLE_SECONDS, SeedRecord

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
USERS = COACHING.tables["users"]
GOALS = COACHING.tables["personal_goals"]


def run_states(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute("select kind, status from airtable_sync.sync_run order by started_at").fetchall()


def tombstoned_ids(url: str, table=USERS) -> set[str]:
    rows = mirror_rows(url, COACHING, table, live_only=False)
    return {record_id for record_id, row in rows.items() if row["deleted_at"] is not None}


def delete_records(sandbox: Sandbox, table_id: str, record_ids: list[str]) -> None:
    admin(sandbox, "DELETE", records_path(DEMO_BASE_ID, table_id), params=[("records[]", r) for r in record_ids])


@pytest.fixture
def engine(sandbox: Sandbox, database_url: str):
    # A tiny range size makes even the 200-record demo base split, so concurrency is exercised.
    with make_sync_engine(sandbox, database_url, workers=4, range_rows=10) as sync:
        yield sync


def test_full_sync_equals_airtable_record_for_record_and_cell_for_cell(
    engine: SyncEngine, sandbox: Sandbox, database_url: str, airtable_api: Api
) -> None:
    first = {r.table: r for r in engine.sync_tables("full")}
    assert set(first) == set(COACHING.tables)
    # fresh mirror: split by probing the createdTime field; every field type of the demo base is compared
    assert first["users"].scan_ranges > 1 and first["personal_goals"].scan_ranges > 1
    for table in COACHING.tables.values():
        compared = assert_mirror_matches(database_url, airtable_api, COACHING, table)
        result = first[table.key]
        assert (result.rows_seen, result.inserted, result.row_count) == (compared, compared, compared)
        assert result.mode == "full" and result.tombstoned == 0 and result.watermark is not None
    # Airtable's error values (#DIV/0!, NaN, #ERROR!) are counted, kept in `fields`, NULL in their column
    assert first["personal_goals"].cell_errors > 0
    assert first["programs"].requests >= 1 and sandbox.stats()["bases"][DEMO_BASE_ID]["rate_limited"] == 0

    second = {r.table: r for r in engine.sync_tables("full")}
    # the mirror now holds rows: ranges come from Postgres quantiles, and still cover every record once
    assert second["personal_goals"].scan_ranges > 1
    for table in COACHING.tables.values():
        assert second[table.key].rows_seen == first[table.key].rows_seen
        assert_mirror_matches(database_url, airtable_api, COACHING, table)


def test_rerun_changes_nothing(engine: SyncEngine, database_url: str) -> None:
    engine.sync_table("coaching", "users")
    before = {rid: row["synced_at"] for rid, row in mirror_rows(database_url, COACHING, USERS).items()}
    again = engine.sync_table("coaching", "users")
    after = {rid: row["synced_at"] for rid, row in mirror_rows(database_url, COACHING, USERS).items()}
    assert (again.inserted, again.updated, again.tombstoned, again.unchanged) == (0, 0, 0, len(before))
    assert after == before  # unchanged rows are not rewritten


def test_deleted_records_are_tombstoned_and_come_back(
    engine: SyncEngine, sandbox: Sandbox, database_url: str, airtable_api: Api
) -> None:
    engine.sync_table("coaching", "users")
    victims = sorted(mirror_rows(database_url, COACHING, USERS))[:2]
    kept = airtable_api.table(DEMO_BASE_ID, USERS.id).get(victims[0], use_field_ids=True)
    delete_records(sandbox, USERS.id, victims)

    gone = engine.sync_table("coaching", "users")
    assert gone.tombstoned == 2 and tombstoned_ids(database_url) == set(victims)
    assert gone.row_count == len(mirror_rows(database_url, COACHING, USERS))
    assert engine.sync_table("coaching", "users").tombstoned == 0  # a tombstone is not counted twice

    # Restored from Airtable's trash: same id again (stored text cells only; computed ones are recomputed)
    schema = {f["id"]: f["type"] for f in sandbox.store.table_schema(DEMO_BASE_ID, USERS.id)["fields"]}
    stored = {k: v for k, v in kept["fields"].items() if schema[k] in {"singleLineText", "email", "multilineText"}}
    epoch = datetime.fromisoformat(kept["createdTime"]).timestamp()
    sandbox.store.load_records(DEMO_BASE_ID, USERS.id, [SeedRecord(USERS.id, victims[0], epoch, epoch, stored)])

    back = engine.sync_table("coaching", "users")
    assert (back.restored, back.tombstoned) == (1, 0)
    assert tombstoned_ids(database_url) == {victims[1]}
    assert_mirror_matches(database_url, airtable_api, COACHING, USERS)


def test_a_crash_mid_scan_tombstones_nothing_and_the_rerun_completes(
    engine: SyncEngine, sandbox: Sandbox, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.sync_table("coaching", "personal_goals")
    victims = sorted(mirror_rows(database_url, COACHING, GOALS))[:3]
    delete_records(sandbox, GOALS.id, victims)

    real_apply = TableStore.apply
    calls = {"n": 0}
    lock = threading.Lock()

    def crash_on_third_page(self, rows, **kwargs):
        with lock:
            calls["n"] += 1
            third = calls["n"] == 3
        if third:
            raise RuntimeError("injected: database went away on page 3")
        return real_apply(self, rows, **kwargs)

    monkeypatch.setattr(TableStore, "apply", crash_on_third_page)
    with pytest.raises(RuntimeError, match="injected"):
        engine.sync_table("coaching", "personal_goals")
    assert tombstoned_ids(database_url, GOALS) == set()
    assert run_states(database_url)[-1] == ("full", "failed")

    monkeypatch.setattr(TableStore, "apply", real_apply)
    rerun = engine.sync_table("coaching", "personal_goals")
    assert rerun.tombstoned == 3 and tombstoned_ids(database_url, GOALS) == set(victims)
    assert run_states(database_url)[-1] == ("full", "succeeded")


def test_airtable_failing_mid_scan_tombstones_nothing(sandbox: Sandbox, database_url: str) -> None:
    with make_sync_engine(sandbox, database_url, workers=2, range_rows=10, airtable={"max_attempts": 2}) as sync:
        sync.sync_table("coaching", "personal_goals")
        delete_records(sandbox, GOALS.id, sorted(mirror_rows(database_url, COACHING, GOALS))[:2])
        admin(sandbox, "POST", "config", json={"fault_5xx_ratio": 1.0})
        with pytest.raises(Exception, match="503"):
            sync.sync_table("coaching", "personal_goals")
        assert tombstoned_ids(database_url, GOALS) == set()
        admin(sandbox, "POST", "config", json={"fault_5xx_ratio": 0.0})
        assert sync.sync_table("coaching", "personal_goals").tombstoned == 2


def test_a_first_import_failing_in_its_sample_fails_cleanly(sandbox: Sandbox, database_url: str) -> None:
    with make_sync_engine(sandbox, database_url, workers=2, airtable={"max_attempts": 2}) as sync:
        sync.sync_table("coaching", "users")  # the engine now knows the base's schema: the sample is the first read
        admin(sandbox, "POST", "config", json={"fault_5xx_ratio": 1.0})
        with pytest.raises(Exception, match="503"):
            sync.sync_table("coaching", "personal_goals")
        assert run_states(database_url)[-1] == ("full", "failed")
        admin(sandbox, "POST", "config", json={"fault_5xx_ratio": 0.0})
        assert sync.sync_table("coaching", "personal_goals").rows_seen == len(
            mirror_rows(database_url, COACHING, GOALS)
        )


def test_scan_ranges_partition_the_table(engine: SyncEngine, sandbox: Sandbox, database_url: str) -> None:
    """Each record-id range's query returns exactly its own records: together every record exactly once."""
    from airtable_pg.sync.planner import SAMPLE, plan_after_sample, plan_from_mirror

    api = airtable_api_for(sandbox)
    table = api.table(DEMO_BASE_ID, GOALS.id)
    every = {r["id"] for r in table.all()}
    engine.sync_table("coaching", "personal_goals")
    by_char = TableStore(engine.db, COACHING, GOALS).live_rows_by_last_id_char()
    plans = {
        "sample, then one range": [SAMPLE, *plan_after_sample(0, workers=4, range_rows=10)],
        "sample, then four": [SAMPLE, *plan_after_sample(100, workers=4, range_rows=10)],
        "from the mirror": plan_from_mirror(by_char, workers=4, range_rows=10),
    }
    assert [len(plan) for plan in plans.values()] == [2, 5, 4]
    for name, plan in plans.items():
        seen: list[str] = []
        for scan_range in plan:
            returned = [r["id"] for r in table.all(formula=scan_range.formula())]
            assert set(returned) == {i for i in every if scan_range.holds(i)}, name
            seen += returned
        assert sorted(seen) == sorted(every), name


def test_a_fresh_table_is_split_after_its_sample_and_a_synced_one_by_its_mirror(
    sandbox_factory, database_url: str
) -> None:
    sandbox = sandbox_factory(demo_records=20_000)  # 7,000 persoonlijke_overtuigingen (no createdTime field)
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        fresh = engine.sync_table("coaching", "persoonlijke_overtuigingen")
        again = engine.sync_table("coaching", "persoonlijke_overtuigingen")
        small = engine.sync_table("coaching", "programs")  # 200 records
    # The whole sample (1/62 of the ids: 108 records, ~6,700 estimated) sizes the rest: ceil(6,700 / 2,000) = 4
    # ranges; the second time the mirror's counts split it (7,000 rows: 4 again), with no sample.
    assert (fresh.scan_ranges, again.scan_ranges) == (1 + 4, 4)
    assert fresh.rows_seen == again.rows_seen == fresh.row_count == 7_000
    # A small table's sample says so: it is not split further.
    assert small.scan_ranges == 2 and small.row_count == 200
    # What splitting costs: at most one partial page per range on top of the full pages.
    for result in (fresh, again, small):
        assert result.requests <= -(-result.rows_seen // 100) + result.scan_ranges, result


@pytest.mark.parametrize("closed_at", ["mid_scan", "scan_complete"])
def test_closing_the_engine_cancels_a_running_sync(sandbox_factory, database_url: str, closed_at: str) -> None:
    """Ctrl-C or a run's termination closes the engine: a sync it meets fails and tombstones nothing.

    The second sync is held at a chosen page until ``close()`` has told it to stop, so the test proves each
    phase rather than whichever one timing luck picked: after its first page, and after its last page (every
    range done, nothing left to fetch) but before its tombstones commit.
    """
    slow = sandbox_factory(latency_ms=150)
    second_started = threading.Event()
    held = threading.Event()  # the second sync is paused at the chosen page
    release = threading.Event()

    def on_progress(event: ProgressEvent) -> None:
        if not second_started.is_set() or event.phase != "page" or held.is_set():
            return
        if closed_at == "scan_complete" and event.ranges_done < event.ranges_total:
            return
        held.set()
        assert release.wait(timeout=30), "the test never released the held page"

    engine = make_sync_engine(slow, database_url, workers=2, range_rows=10, progress=on_progress)
    engine.sync_table("coaching", "personal_goals")
    delete_records(slow, GOALS.id, sorted(mirror_rows(database_url, COACHING, GOALS))[:1])
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            engine.sync_table("coaching", "personal_goals")
        except BaseException as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(error)

    second_started.set()
    worker = threading.Thread(target=sync)
    worker.start()
    assert held.wait(timeout=30), f"the second sync never reached {closed_at}"
    closer = threading.Thread(target=engine.close)
    closer.start()
    wait_until(lambda: engine.closed, timeout=10, what="close() to begin")
    release.set()
    worker.join(timeout=10)
    closer.join(timeout=10)
    assert not worker.is_alive() and not closer.is_alive(), "close() or the sync did not return"
    assert len(errors) == 1 and isinstance(errors[0], Cancelled), errors
    assert tombstoned_ids(database_url, GOALS) == set()
    assert run_states(database_url)[-1] == ("full", "failed")


def test_an_expired_list_iterator_restarts_its_range(sandbox_factory, database_url: str, caplog) -> None:
    """Airtable drops idle iterators (422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE): the range starts over."""
    sandbox = sandbox_factory(demo_records=600)  # 240 goals: a few in the sample, the rest in one range of 3 pages
    advanced = threading.Event()

    def idle_mid_range(event: ProgressEvent) -> None:
        if event.phase == "page" and event.rows_seen >= 100 and not advanced.is_set():
            advanced.set()
            sandbox.clock.advance(ITERATOR_IDLE_SECONDS + 1)  # as if this worker stalled for ten minutes

    with make_sync_engine(sandbox, database_url, workers=1, progress=idle_mid_range) as engine:
        result = engine.sync_table("coaching", "personal_goals")
    assert advanced.is_set() and result.scan_ranges == 2
    assert "list iterator expired, restarting a range" in caplog.text
    compared = assert_mirror_matches(database_url, airtable_api_for(sandbox), COACHING, GOALS)
    # the restarted range's first page is not counted twice
    assert (result.rows_seen, result.inserted, result.row_count) == (compared, compared, compared)
