"""The built-in alerter posts one message when an incident fires and one when it recovers, to a real local HTTP
endpoint, with its incidents in Postgres: never one per tick, never lost to a failed post, quiet while silenced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airtable_pg.observability.alerter import Notifier, evaluate
from airtable_pg.observability.alerts import alert_definitions
from airtable_pg.postgres import incidents
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.transaction import transaction
from airtable_pg_tests.observability.state_seed import (
    BASE,
    PROGRAMS,
    SPEC,
    USERS,
    apply_changes,
    dead_letter,
    execute,
    synced,
    webhook,
)
from airtable_pg_tests.observability.webhook_sink import WebhookSink

ALERTS = alert_definitions()
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def link(alert, labels) -> str:
    return f"http://ui.example/{alert.name}"


@pytest.fixture
def sink():
    with WebhookSink() as sink:
        yield sink


def tick(database_url: str, sink: WebhookSink, minutes: float, *, notifier: Notifier | None = None):
    notifier = notifier or Notifier(sink.url, backoff_seconds=0.01)
    return evaluate(connection_pool(database_url), SPEC, ALERTS, notifier, link_for=link,
                    now=T0 + timedelta(minutes=minutes))  # fmt: skip


def test_a_stale_table_fires_once_after_its_for_and_recovers_once(database_url, sink):
    synced(database_url, PROGRAMS.id, rows=3, ago=timedelta(seconds=PROGRAMS.freshness_bound_seconds + 60))
    tick(database_url, sink, 0)
    assert sink.messages == []  # pending: TableStale must hold for 2 minutes first
    tick(database_url, sink, 3)
    tick(database_url, sink, 4)
    tick(database_url, sink, 5)
    assert len(sink.messages) == 1
    fired = sink.texts()[0]
    assert "FIRING* TableStale" in fired and f"{BASE.key}.programs" in fired and "http://ui.example/TableStale" in fired
    assert "since 2026-12-07T12:00:00+00:00" in fired
    execute(database_url, "update airtable_sync.table_state set last_incremental_sync_at = now()")
    tick(database_url, sink, 6)
    tick(database_url, sink, 7)
    assert len(sink.messages) == 2
    assert "RESOLVED* TableStale" in sink.texts()[1] and "resolved after 6 min 0 s" in sink.texts()[1]


def test_a_breached_p95_from_delayed_notifications_fires_once_and_recovers(database_url, sink):
    apply_changes(database_url, USERS.id, "webhook", [1.0] * 10)  # fast: within the SLO
    tick(database_url, sink, 0)
    assert sink.messages == []
    apply_changes(database_url, USERS.id, "webhook", [25.0] * 10)  # Airtable's pings delayed 25 s
    tick(database_url, sink, 1)
    tick(database_url, sink, 2)
    assert [t.split(":")[2].strip() for t in sink.texts()] == ["*FIRING* UsersProvisioningP95Slow (page)"]
    assert "p95 provisioning latency 25 s" in sink.texts()[0]  # p99 (25 s) is within its 60 s: no second alert
    execute(database_url, "update airtable_sync.change_event set applied_at = applied_at - interval '1 hour'")
    tick(database_url, sink, 3)  # the window holds no changes now: too few to judge is not a breach
    assert len(sink.messages) == 2 and "RESOLVED* UsersProvisioningP95Slow" in sink.texts()[1]


def test_too_few_changes_in_the_window_page_nobody(database_url, sink):
    apply_changes(database_url, USERS.id, "webhook", [300.0] * 4)  # 4 < 5: one slow night is not an incident
    tick(database_url, sink, 0)
    assert sink.messages == []


def test_a_growing_dead_letter_queue_is_one_incident_and_triage_resolves_it(database_url, sink):
    dead_letter(database_url)
    tick(database_url, sink, 0)
    dead_letter(database_url)
    dead_letter(database_url)
    tick(database_url, sink, 1)
    assert len(sink.messages) == 1 and "1 inbound dead letter(s)" in sink.texts()[0]
    execute(database_url, "update airtable_sync.dead_letter set status = 'discarded'")
    tick(database_url, sink, 2)
    assert len(sink.messages) == 2 and "RESOLVED* DeadLettersOpen" in sink.texts()[1]


def test_an_expiring_hook_fires_and_a_refresh_recovers_it(database_url, sink):
    webhook(database_url, expires_in=timedelta(hours=5))
    tick(database_url, sink, 0)
    webhook(database_url, expires_in=timedelta(days=7))
    tick(database_url, sink, 1)
    assert [t.split("*")[1] for t in sink.texts()] == ["FIRING", "RESOLVED"]
    assert "WebhookExpiring" in sink.texts()[0] and "expires in 18k s" in sink.texts()[0]


def test_a_failed_post_leaves_the_incident_unannounced_and_the_next_tick_posts_it(database_url, sink):
    dead_letter(database_url)
    sink.status = 500
    report = tick(database_url, sink, 0)
    assert report.failed == [f"DeadLettersOpen base={BASE.key},direction=inbound"] and sink.messages == []
    with transaction(connection_pool(database_url)) as cur:
        assert incidents.all_incidents(cur) == []  # nothing committed: the decision waits for a delivered message
    webhook(database_url, expires_in=timedelta(hours=1))  # a second incident: deferred with the first
    report = tick(database_url, sink, 0.5)
    assert len(report.failed) == 2 and sink.messages == []
    sink.status = 200
    tick(database_url, sink, 1)
    assert sorted(t.split("*")[2].split()[0] for t in sink.texts()) == ["DeadLettersOpen", "WebhookExpiring"]


def test_a_silenced_alert_is_tracked_not_posted(database_url, sink):
    db = connection_pool(database_url)
    with transaction(db) as cur:
        incidents.silence(cur, "DeadLettersOpen", T0 + timedelta(hours=2), "triaging")
    dead_letter(database_url)
    tick(database_url, sink, 0)
    with transaction(db) as cur:
        (incident,) = incidents.all_incidents(cur)
    assert sink.messages == [] and (incident.alert, incident.state, incident.notified_at) == (
        "DeadLettersOpen", "firing", None)  # fmt: skip
    tick(database_url, sink, 180)  # the silence ran out while it still fires: announced now, once
    tick(database_url, sink, 181)
    assert len(sink.messages) == 1 and "FIRING* DeadLettersOpen" in sink.texts()[0]


def test_each_evaluation_leaves_the_alerters_heartbeat_in_metrics(database_url, sink):
    from airtable_pg.observability.metrics import scrape

    tick(database_url, sink, 0)
    found = scrape(connection_pool(database_url), SPEC).families
    (family,) = [f for f in found if f.name == "airtable_pg_alerter_last_evaluation_age_seconds"]
    assert [(s.labels, s.value < 30) for s in family.samples] == [({"alerter": "alerts"}, True)]


def test_another_specs_incidents_are_left_to_its_own_alerter(database_url, sink):
    from dataclasses import replace

    dead_letter(database_url)
    tick(database_url, sink, 0)
    other = replace(SPEC, bases={})  # a second instance's spec sharing the database, without this base
    evaluate(connection_pool(database_url), other, ALERTS, Notifier(sink.url), link_for=link,
             now=T0 + timedelta(minutes=1), alerter="crm__alerts")  # fmt: skip
    with transaction(connection_pool(database_url)) as cur:
        assert [i.state for i in incidents.all_incidents(cur)] == ["firing"]  # not resolved by the other alerter
    assert len(sink.messages) == 1


def test_a_user_in_airtable_longer_than_the_slo_and_not_in_postgres_fires_once_and_recovers_when_it_lands(
    database_url, sink
):
    synced(database_url, USERS.id, rows=400, ago=timedelta(seconds=30))
    execute(database_url, "update airtable_sync.table_state set mirror_table = %s, probe_checked_at = now(), "
            "probe_missing = 1, probe_missing_record_id = 'recStuckUser00001', "
            "probe_missing_created_at = now() - interval '90 seconds' where table_id = %s",
            (USERS.mirror, USERS.id))  # fmt: skip
    tick(database_url, sink, 0)
    tick(database_url, sink, 1)
    assert len(sink.messages) == 1 and "FIRING* FastLaneStuck" in sink.texts()[0]
    assert f"{BASE.key}.users" in sink.texts()[0] and "still not in Postgres" in sink.texts()[0]
    execute(database_url, f'insert into airtable."{USERS.mirror}" (airtable_id, fields) values (%s, %s)',
            ("recStuckUser00001", "{}"))  # fmt: skip
    tick(database_url, sink, 2)
    assert len(sink.messages) == 2 and "RESOLVED* FastLaneStuck" in sink.texts()[1]
