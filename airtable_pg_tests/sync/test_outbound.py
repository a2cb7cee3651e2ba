"""The outbound sync against the sandbox: the app's SQL writes reach Airtable, and nothing is lost or duplicated."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from airtable_pg.postgres import outbox
from airtable_pg.sync.outbound import wait_until_pushed
from airtable_pg_tests.sync.outbound_helpers import (
    BELIEFS,
    COACHING,
    GOALS,
    SPEC,
    USERS,
    airtable_records_with_key,
    app_sql,
    insert_goal,
    make_pusher,
    outbox_rows,
    row,
)
from airtable_pg_tests.sync_helpers import admin, make_sync_engine, mirror_rows, records_path
from airtable_pg_tests.waiting import wait_until_listening
from airtable_sandbox.demo import DEMO_BASE_ID, GOAL_FIELDS, PERSOONLIJKE_OVERTUIGING_FIELDS
from airtable_sandbox.pytest_plugin import airtable_api_for


@pytest.fixture
def synced_sandbox(sandbox_factory, database_url: str):
    """A sandbox whose demo base has been fully synced (the app's links point at mirrored users)."""
    sandbox = sandbox_factory(demo_records=30)
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_tables("full")
    return sandbox


def a_user(database_url: str) -> str:
    return sorted(mirror_rows(database_url, COACHING, USERS))[0]


def test_the_syncs_own_writes_never_enter_the_outbox(synced_sandbox, database_url: str) -> None:
    assert mirror_rows(database_url, COACHING, GOALS)  # the full sync wrote goals …
    assert outbox_rows(database_url) == []  # … as the sync: nothing to push back


def test_inserted_updated_and_deleted_rows_reach_airtable_with_links_and_computed_values(
    synced_sandbox, database_url: str
) -> None:
    user = a_user(database_url)
    row_id = insert_goal(
        database_url, title="Run a marathon", user=[user], status="In progress", target_minutes=600,
        minutes_practiced=150, reminder_at="2027-01-05 09:30:00+01:00",
    )  # fmt: skip
    app_sql(database_url, "update airtable.personal_goals set priority = 4 where id = %s", (row_id,))
    assert [(op, status, version) for _, _, op, status, version in outbox_rows(database_url)] == [
        ("upsert", "pending", 2)  # two writes, one outbox item: its latest state is what goes
    ]
    pusher = make_pusher(synced_sandbox, database_url)
    report = pusher.push_all()
    assert (report.created, report.requests) == (1, 1)

    (record,) = airtable_records_with_key(synced_sandbox, GOALS, row_id)
    assert record["fields"]["title"] == "Run a marathon" and record["fields"]["priority"] == 4
    assert record["fields"]["user"] == [user]
    assert record["fields"]["reminder_at"] == "2027-01-05T08:30:00.000Z"  # UTC, always
    stored = row(database_url, GOALS, row_id)
    assert stored["airtable_id"] == record["id"]
    assert stored["progress"] == Decimal("0.25")  # a formula Airtable computed, written back
    assert stored["fields"][GOAL_FIELDS["title"]] == "Run a marathon"
    links = app_sql(database_url, "select linked_airtable_id from airtable.personal_goals__user where airtable_id = %s",
                    (record["id"],))  # fmt: skip
    assert links == [(user,)]
    assert outbox_rows(database_url)[0][3] == "done"

    app_sql(database_url, "update airtable.personal_goals set title = 'Run two marathons' where id = %s", (row_id,))
    assert pusher.push_all().updated == 1
    goals = airtable_api_for(synced_sandbox).table(DEMO_BASE_ID, GOALS.id)
    assert goals.get(record["id"])["fields"]["title"] == "Run two marathons"

    app_sql(database_url, "delete from airtable.personal_goals where id = %s", (row_id,))
    assert pusher.push_all().deleted == 1
    assert airtable_records_with_key(synced_sandbox, GOALS, row_id) == []


def test_a_running_pusher_brings_a_change_to_airtable_within_seconds(synced_sandbox, database_url: str) -> None:
    pusher = make_pusher(synced_sandbox, database_url)
    pusher.ensure_key_fields()
    stop = threading.Event()
    follower = threading.Thread(target=pusher.follow, args=(database_url, stop), kwargs={"interval": 30})
    follower.start()
    try:
        wait_until_listening(database_url, outbox.NOTIFY_CHANNEL)  # else only the 30 s interval would wake it
        started = time.monotonic()
        row_id = insert_goal(database_url, title="Pushed while following")
        while not airtable_records_with_key(synced_sandbox, GOALS, row_id) and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert time.monotonic() - started < 10  # woken by the trigger's notification, not the 30 s interval
    finally:
        stop.set()
        follower.join(timeout=10)


def test_an_outage_then_recovery_loses_nothing(synced_sandbox, database_url: str) -> None:
    pusher = make_pusher(synced_sandbox, database_url, max_attempts=5, backoff_seconds=1.0, backoff_max_seconds=1.0)
    pusher.ensure_key_fields()
    ids = [insert_goal(database_url, title=f"Through the outage {n}") for n in range(12)]
    synced_sandbox.limits.configure({"fault_5xx_ratio": 1.0})
    report = pusher.push_all()
    assert report.pushed == 0 and report.retried == 12 and report.dead_lettered == 0
    synced_sandbox.limits.configure({"fault_5xx_ratio": 0.0})
    assert pusher.push_all().requests == 0  # backing off: nothing is due yet
    time.sleep(1.0)  # the back-off (0.5–1 s with jitter)
    report = pusher.push_all()
    assert report.created == 12 and report.requests == 2  # batches of 10
    assert all(len(airtable_records_with_key(synced_sandbox, GOALS, row_id)) == 1 for row_id in ids)
    assert {status for *_, status, _ in outbox_rows(database_url)} == {"done"}


def test_a_bad_value_dead_letters_that_item_only_and_replay_after_the_fix_succeeds(
    synced_sandbox, database_url: str
) -> None:
    from airtable_pg.postgres.database import connection_pool
    from airtable_pg.sync import dead_letters

    insert = "insert into airtable.persoonlijke_overtuigingen (omschrijving, status) values (%s, %s) returning id::text"
    good = app_sql(database_url, insert, ("Ik kan dit", "nieuw"))[0][0]
    bad = app_sql(database_url, insert, ("Ik ben te oud", "verworpen"))[0][0]  # no such option; typecast is off
    pusher = make_pusher(synced_sandbox, database_url)
    report = pusher.push_all()
    assert (report.created, report.dead_lettered) == (1, 1)
    assert len(airtable_records_with_key(synced_sandbox, BELIEFS, good)) == 1
    letters = app_sql(
        database_url, "select id, direction, status, error, payload->>'row_id' from airtable_sync.dead_letter"
    )
    ((letter_id, direction, status, error, letter_row),) = letters
    assert (direction, status, letter_row) == ("outbound", "open", bad)
    assert "422" in error

    # The fix: the option exists in Airtable now. Replaying pushes the row again.
    status_field = PERSOONLIJKE_OVERTUIGING_FIELDS["status"]
    choices = [{"name": n} for n in ("nieuw", "onderzoeken", "uitgedaagd", "losgelaten", "verworpen")]
    admin(synced_sandbox, "PATCH", f"bases/{DEMO_BASE_ID}/tables/{BELIEFS.id}/fields/{status_field}",
          json={"options": {"choices": choices}})  # fmt: skip
    db = connection_pool(database_url)
    assert dead_letters.replay(SPEC, db, None, [letter_id]).requeued == [letter_id]
    assert dead_letters.still_open(db, [letter_id])  # re-queued, not delivered yet: the letter stays open
    assert pusher.push_all().created == 1
    assert dead_letters.still_open(db, [letter_id]) == {}  # delivered: closed
    assert len(airtable_records_with_key(synced_sandbox, BELIEFS, bad)) == 1
    assert dead_letters.replay(SPEC, db, None, [letter_id]).skipped == [letter_id]  # replayed already
    assert app_sql(database_url, "select status from airtable_sync.dead_letter") == [("replayed",)]


def test_killed_after_airtable_answered_neither_loses_nor_duplicates(synced_sandbox, database_url: str) -> None:
    class Killed(BaseException):
        pass

    def kill() -> None:
        raise Killed

    row_id = insert_goal(database_url, title="Answered, never committed")
    doomed = make_pusher(synced_sandbox, database_url, lease_seconds=0.2, after_answer=kill)
    with pytest.raises(Killed):
        doomed.push_all()
    assert len(airtable_records_with_key(synced_sandbox, GOALS, row_id)) == 1  # Airtable has it …
    assert row(database_url, GOALS, row_id)["airtable_id"] is None  # … our commit never happened

    # A full sync meanwhile matches Airtable's record to the row by its key: no second row.
    with make_sync_engine(synced_sandbox, database_url, workers=2) as engine:
        engine.sync_table("coaching", "personal_goals")
    (record,) = airtable_records_with_key(synced_sandbox, GOALS, row_id)
    assert row(database_url, GOALS, row_id)["airtable_id"] == record["id"]
    assert (
        sum(1 for r in mirror_rows(database_url, COACHING, GOALS).values() if r["title"] == record["fields"]["title"])
        == 1
    )

    time.sleep(0.3)  # the dead pusher's lease runs out
    assert make_pusher(synced_sandbox, database_url).push_all().pushed == 1
    assert len(airtable_records_with_key(synced_sandbox, GOALS, row_id)) == 1
    assert outbox_rows(database_url)[0][3] == "done"


def test_an_airtable_edit_of_a_postgres_record_is_a_conflict_postgres_wins(synced_sandbox, database_url: str) -> None:
    row_id = insert_goal(database_url, title="Postgres says so", priority=2)
    pusher = make_pusher(synced_sandbox, database_url)
    pusher.push_all()
    airtable_id = row(database_url, GOALS, row_id)["airtable_id"]
    admin(synced_sandbox, "PATCH", f"{records_path(DEMO_BASE_ID, GOALS.id)}/{airtable_id}",
          json={"fields": {"title": "Staff edited this"}})  # fmt: skip

    with make_sync_engine(synced_sandbox, database_url, workers=2) as engine:
        engine.sync_table("coaching", "personal_goals")
    conflicts = app_sql(
        database_url,
        "select airtable_id, field_id, postgres_value, airtable_value, resolution from airtable_sync.conflict",
    )
    assert conflicts == [
        (airtable_id, GOAL_FIELDS["title"], "Postgres says so", "Staff edited this", "postgres value pushed again")
    ]
    assert row(database_url, GOALS, row_id)["title"] == "Postgres says so"
    assert pusher.push_all().updated == 1
    goals = airtable_api_for(synced_sandbox).table(DEMO_BASE_ID, GOALS.id)
    assert goals.get(airtable_id)["fields"]["title"] == "Postgres says so"


def test_our_own_echoes_are_not_conflicts(synced_sandbox, database_url: str) -> None:
    from airtable_pg.spec import load_spec
    from airtable_pg.sync.live import LiveSync
    from airtable_pg_tests.sync_helpers import airtable_config

    live = LiveSync(load_spec(), database_url, airtable_config(synced_sandbox), workers=2)
    live.care(notification_url=None)
    pusher = make_pusher(synced_sandbox, database_url)
    row_id = insert_goal(database_url, title="First version", priority=1)
    pusher.push_all()
    app_sql(database_url, "update airtable.personal_goals set title = 'Second version' where id = %s", (row_id,))
    live.apply_all()  # the first push comes back by webhook while the second waits in the outbox
    assert row(database_url, GOALS, row_id)["title"] == "Second version"
    pusher.push_all()
    live.apply_all()  # and the second one's echo
    with make_sync_engine(synced_sandbox, database_url, workers=2) as engine:
        engine.sync_table("coaching", "personal_goals")
    assert app_sql(database_url, "select count(*) from airtable_sync.conflict") == [(0,)]
    assert row(database_url, GOALS, row_id)["title"] == "Second version"
    assert wait_until_pushed(pusher.db, timeout=1)
