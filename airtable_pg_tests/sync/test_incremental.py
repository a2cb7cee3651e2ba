"""Incremental sync (poll): fallback to full without a watermark, creates and updates picked up, watermark moves."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from pyairtable import Api

from airtable_pg.airtable.errors import AirtableUnavailable
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import load_spec
from airtable_pg.sync.engine import NO_WATERMARK
from airtable_pg.sync.incremental import DEFAULT_OVERLAP
from airtable_pg_tests.sync_helpers import admin, assert_mirror_matches, make_sync_engine, mirror_rows, records_path
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
USERS = COACHING.tables["users"]
NAME, NOTES, ACTIVE = "fldUsrName0000000", "fldUsrNotes000000", "fldUsrActive00000"


def stored_watermark(url: str):
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(
            "select poll_watermark from airtable_sync.table_state where table_id = %s", (USERS.id,)
        ).fetchone()[0]


def wait_for_a_later_second(watermark: datetime) -> None:
    """Airtable's ``Date`` header counts whole seconds: wait until its second is later than ``watermark``'s."""
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > watermark, timeout=5, what="a later second")


def test_without_a_watermark_an_incremental_sync_is_a_full_one(
    sandbox: Sandbox, database_url: str, airtable_api: Api
) -> None:
    with make_sync_engine(sandbox, database_url) as sync:
        result = sync.sync_table("coaching", "users", "incremental")
    assert result.mode == "full" and result.fallback_reason == NO_WATERMARK
    assert result.inserted == result.rows_seen == result.row_count > 0
    assert result.watermark is not None and result.watermark == stored_watermark(database_url)
    assert_mirror_matches(database_url, airtable_api, COACHING, USERS)


def test_poll_applies_creates_and_updates_and_advances_the_watermark(
    sandbox: Sandbox, database_url: str, airtable_api: Api
) -> None:
    with make_sync_engine(sandbox, database_url) as sync:
        full = sync.sync_table("coaching", "users", "full")
        quiet = sync.sync_table("coaching", "users", "incremental")
        # the demo's edits are months old: only what changed within the overlap is read again
        assert (quiet.mode, quiet.rows_seen, quiet.inserted, quiet.updated) == ("incremental", 0, 0, 0)

        wait_for_a_later_second(stored_watermark(database_url))  # the next poll starts in a later second
        target = sorted(mirror_rows(database_url, COACHING, USERS))[0]
        path = records_path(DEMO_BASE_ID, USERS.id)
        created = admin(sandbox, "POST", path, json={"fields": {NAME: "Nieuwe Gebruiker", ACTIVE: True}})
        admin(sandbox, "PATCH", f"{path}/{target}", json={"fields": {NOTES: "edited in the Airtable UI"}})
        doomed = sorted(mirror_rows(database_url, COACHING, USERS))[-1]
        admin(sandbox, "DELETE", f"{path}/{doomed}")

        poll = sync.sync_table("coaching", "users", "incremental")
    assert (poll.mode, poll.inserted, poll.updated, poll.tombstoned) == ("incremental", 1, 1, 0)
    assert poll.rows_seen == 2  # not a rescan: only the two modified records
    assert poll.watermark > full.watermark and poll.watermark == stored_watermark(database_url)
    rows = mirror_rows(database_url, COACHING, USERS)
    assert rows[created["id"]]["name"] == "Nieuwe Gebruiker" and rows[created["id"]]["active"] is True
    assert rows[target]["notes"] == "edited in the Airtable UI"
    assert doomed in rows  # deletions are for webhooks and full syncs, never guessed by a poll
    assert len(rows) == full.row_count + 1


def test_a_failed_poll_keeps_the_watermark(sandbox: Sandbox, database_url: str) -> None:
    with make_sync_engine(sandbox, database_url, airtable={"max_attempts": 1}) as sync:
        sync.sync_table("coaching", "users", "full")
        before = stored_watermark(database_url)
        wait_for_a_later_second(before)  # so a poll that wrongly advanced the watermark would store another one
        admin(sandbox, "POST", "config", json={"fault_5xx_ratio": 1.0})
        with pytest.raises(AirtableUnavailable, match="503"):
            sync.sync_table("coaching", "users", "incremental")
    assert stored_watermark(database_url) == before
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("select status from airtable_sync.sync_run where kind = 'incremental'").fetchall() == [
            ("failed",)
        ]


def test_a_probe_without_changes_records_the_poll_a_run_would_have(sandbox: Sandbox, database_url: str) -> None:
    with make_sync_engine(sandbox, database_url) as sync:
        assert sync.probe_poll("coaching", "users") is None  # never synced: the first import is a deliberate step
        sync.sync_table("coaching", "users", "full")
        before = stored_watermark(database_url)
        wait_for_a_later_second(before)
        probe = sync.probe_poll("coaching", "users")
    assert probe is not None and not probe.changed and probe.rows_seen == 0 and probe.requests == 1
    assert probe.watermark is not None and probe.watermark > before == probe.since + DEFAULT_OVERLAP
    assert stored_watermark(database_url) == probe.watermark  # freshness holds without a run
    with psycopg.connect(libpq_url(database_url)) as conn:
        runs = conn.execute("select kind, status from airtable_sync.sync_run order by started_at").fetchall()
    assert runs == [("full", "succeeded"), ("incremental", "succeeded")]


def test_a_probe_finds_an_airtable_change_and_applies_nothing(sandbox: Sandbox, database_url: str) -> None:
    with make_sync_engine(sandbox, database_url) as sync:
        sync.sync_table("coaching", "users", "full")
        before = stored_watermark(database_url)
        target = sorted(mirror_rows(database_url, COACHING, USERS))[0]
        admin(sandbox, "PATCH", f"{records_path(DEMO_BASE_ID, USERS.id)}/{target}", json={"fields": {NOTES: "new"}})
        probe = sync.probe_poll("coaching", "users")
        assert probe is not None and probe.changed and probe.rows_seen == 1 and probe.watermark is None
        assert mirror_rows(database_url, COACHING, USERS)[target]["notes"] != "new"  # the run applies it
        assert stored_watermark(database_url) == before
        # Once applied, the overlap brings the record back, but it is the mirror's already: nothing is due.
        sync.sync_table("coaching", "users", "incremental")
        again = sync.probe_poll("coaching", "users")
    assert again is not None and not again.changed and again.rows_seen == 1


def test_a_probe_records_a_user_airtable_has_and_the_mirror_lacks_until_it_lands(
    sandbox: Sandbox, database_url: str, airtable_api: Api
) -> None:
    """The stuck fast lane's figure, end to end: the poll probe sees the new user, /metrics ages it until it lands."""
    from airtable_pg.observability.metrics import scrape
    from airtable_pg.postgres.database import connection_pool

    def missing_age() -> float:
        families = {f.name: f for f in scrape(connection_pool(database_url), SPEC).families}
        (sample,) = [s for s in families["airtable_pg_table_missing_oldest_age_seconds"].samples
                     if s.labels["table"] == "users"]  # fmt: skip
        return sample.value

    with make_sync_engine(sandbox, database_url) as sync:
        sync.sync_table("coaching", "users", "full")
        created = airtable_api.table(DEMO_BASE_ID, USERS.id).create({NAME: "Nieuwe coach"}, use_field_ids=True)
        probe = sync.probe_poll("coaching", "users")
        assert probe is not None and probe.changed
        with psycopg.connect(libpq_url(database_url)) as conn:
            recorded = conn.execute(
                "select probe_missing, probe_missing_record_id from airtable_sync.table_state where table_id = %s",
                (USERS.id,),
            ).fetchone()
        assert recorded == (1, created["id"])
        # Created just now: in Airtable, not yet in Postgres, and older at each scrape (whole seconds of Airtable's).
        wait_until(lambda: missing_age() > 0, timeout=5, what="the missing user's age")
        assert missing_age() < 30
        sync.sync_table("coaching", "users", "incremental")
        assert missing_age() == 0  # landed: the scrape finds it in the mirror before any new probe
        sync.probe_poll("coaching", "users")
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute(
            "select probe_missing, probe_missing_record_id from airtable_sync.table_state where table_id = %s",
            (USERS.id,),
        ).fetchone() == (0, None)
