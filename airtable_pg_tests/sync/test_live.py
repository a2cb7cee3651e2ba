"""The live sync against the sandbox: hooks cared for, payloads applied through the full sync's path, nothing lost."""

from __future__ import annotations

import psycopg
import pytest

from airtable_pg.airtable.meta import fetch_tables
from airtable_pg.postgres import webhook_state
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import SyncSpec, load_spec
from airtable_pg.spec_pull import merge_base
from airtable_pg.sync.live import LiveSync
from airtable_pg_tests.sync_helpers import admin, airtable_config, assert_mirror_matches, make_sync_engine, mirror_rows
from airtable_sandbox.demo import DEMO_BASE_ID, GOAL_FIELDS, HOSTILE_BASE_ID, USER_FIELDS
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
USERS, GOALS, METHODS = (COACHING.tables[key] for key in ("users", "personal_goals", "methods"))


def synced(sandbox: Sandbox, database_url: str) -> LiveSync:
    """A mirror after its initial full sync, with a receiver-less hook (payloads are polled)."""
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        engine.sync_tables("full")
    live = LiveSync(SPEC, database_url, airtable_config(sandbox), workers=4)
    (result,) = live.care(notification_url=None)
    assert result.ensured.created and result.ensured.replaced is None
    return live


def full_sync_changes(sandbox: Sandbox, database_url: str) -> dict[str, tuple[int, int, int]]:
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        return {r.table: (r.inserted, r.updated, r.tombstoned) for r in engine.sync_tables("full")}


def query(database_url: str, text: str, *params):
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(text, params).fetchall()


def test_created_changed_and_deleted_records_reach_postgres_and_a_full_sync_then_changes_nothing(
    sandbox_factory, database_url: str
) -> None:
    sandbox = sandbox_factory(demo_records=120)
    live = synced(sandbox, database_url)
    api = airtable_api_for(sandbox)
    users, goals = api.table(DEMO_BASE_ID, USERS.id), api.table(DEMO_BASE_ID, GOALS.id)
    new_user = users.create({USER_FIELDS["name"]: "Webhook Wanda", USER_FIELDS["email"]: "wanda@example.com"})
    goal = goals.all(max_records=1)[0]
    goals.update(goal["id"], {GOAL_FIELDS["title"]: "Changed by webhook", GOAL_FIELDS["user"]: [new_user["id"]]})
    victim = api.table(DEMO_BASE_ID, METHODS.id).all(max_records=1)[0]["id"]
    api.table(DEMO_BASE_ID, METHODS.id).delete(victim)

    reports = live.apply_all()
    assert reports[0].inserted >= 1 and reports[0].updated >= 1 and reports[0].tombstoned == 1
    assert mirror_rows(database_url, COACHING, USERS)[new_user["id"]]["name"] == "Webhook Wanda"
    row = mirror_rows(database_url, COACHING, GOALS)[goal["id"]]
    assert row["title"] == "Changed by webhook" and row[GOALS.fields[GOAL_FIELDS["user"]].column] == [new_user["id"]]
    assert victim not in mirror_rows(database_url, COACHING, METHODS)
    kinds = query(database_url, "select distinct kind from airtable_sync.change_event where source = 'webhook'")
    assert {kind for (kind,) in kinds} >= {"created", "updated", "deleted"}

    # What came by webhook is exactly what a record read gives: a full sync has nothing left to write.
    assert all(changes == (0, 0, 0) for changes in full_sync_changes(sandbox, database_url).values())
    for table in (USERS, GOALS, METHODS, COACHING.tables["programs"]):
        assert_mirror_matches(database_url, api, COACHING, table)


def test_applying_twice_or_after_a_crash_before_commit_converges_without_loss(
    sandbox_factory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_factory(demo_records=40)
    live = synced(sandbox, database_url)
    api = airtable_api_for(sandbox)
    created = api.table(DEMO_BASE_ID, USERS.id).create({USER_FIELDS["name"]: "Crash Carl"})
    cursor_before = query(database_url, "select cursor from airtable_sync.webhook")[0][0]

    def crash(*args, **kwargs):
        raise RuntimeError("killed between fetching the payloads and committing them")

    with monkeypatch.context() as patch:
        patch.setattr(webhook_state, "advance_cursor", crash)
        with pytest.raises(RuntimeError, match="killed"):
            live.applier(COACHING).apply(COACHING)
    assert created["id"] not in mirror_rows(database_url, COACHING, USERS)  # rolled back with the cursor
    assert query(database_url, "select cursor from airtable_sync.webhook")[0][0] == cursor_before

    first = live.apply_all()[0]
    again = live.apply_all()[0]  # nothing new: the cursor moved with the rows
    assert first.inserted == 1 and again.payloads == 0 and again.changed_rows == 0
    assert query(database_url, "select count(*) from airtable.users where airtable_id = %s", created["id"]) == [(1,)]


def test_an_expired_hook_is_recreated_and_the_gap_is_polled(sandbox_factory, database_url: str) -> None:
    sandbox = sandbox_factory(demo_records=30)
    live = synced(sandbox, database_url)
    old_id = query(database_url, "select webhook_id from airtable_sync.webhook")[0][0]
    admin(sandbox, "POST", "clock/advance", json={"seconds": 8 * 24 * 3600})  # past the 7-day expiry
    api = airtable_api_for(sandbox)
    during_gap = api.table(DEMO_BASE_ID, USERS.id).create({USER_FIELDS["name"]: "Gap Gina"})
    assert not live.manager.health(COACHING).healthy

    (result,) = live.care(notification_url=None)
    assert result.ensured.created and result.ensured.replaced is not None
    assert query(database_url, "select webhook_id from airtable_sync.webhook")[0][0] != old_id
    assert {r.mode for r in result.gap_poll} == {"incremental"}
    assert during_gap["id"] in mirror_rows(database_url, COACHING, USERS)
    assert live.manager.health(COACHING).healthy
    later = api.table(DEMO_BASE_ID, USERS.id).create({USER_FIELDS["name"]: "After Anna"})
    live.apply_all()
    assert later["id"] in mirror_rows(database_url, COACHING, USERS)


def test_a_malformed_payload_is_dead_lettered_and_the_rest_apply(sandbox_factory, database_url: str) -> None:
    from airtable_pg.postgres.transaction import transaction
    from airtable_pg.sync.webhook_applier import ApplyReport

    sandbox = sandbox_factory(demo_records=10)
    live = synced(sandbox, database_url)
    good = {
        "timestamp": "2026-12-01T10:00:00.000Z",
        "changedTablesById": {
            USERS.id: {
                "createdRecordsById": {
                    "recGoodPayload001": {
                        "createdTime": "2026-12-01T10:00:00.000Z",
                        "cellValuesByFieldId": {USER_FIELDS["name"]: "From a good payload"},
                    }
                }
            }
        },
    }
    malformed = {"timestamp": "2026-12-01T10:00:01.000Z", "changedTablesById": {USERS.id: {"destroyedRecordIds": 7}}}
    report = ApplyReport("coaching")
    with transaction(live.db) as cur:
        for payload in (malformed, "not even an object", good):
            live.applier(COACHING)._apply_isolated(cur, COACHING, payload, report)
    assert report.dead_letters == 2 and report.inserted == 1
    letters = query(database_url, "select direction, payload, error from airtable_sync.dead_letter order by id")
    assert [direction for direction, _, _ in letters] == ["inbound", "inbound"]
    assert letters[0][1] == malformed and "destroyedRecordIds must be a list" in letters[0][2]
    assert mirror_rows(database_url, COACHING, USERS)["recGoodPayload001"]["name"] == "From a good payload"


def test_schema_changes_and_other_sources_never_stop_the_applier(sandbox_factory, database_url: str) -> None:
    sandbox = sandbox_factory(demo_records=20)
    live = synced(sandbox, database_url)
    field = admin(
        sandbox,
        "POST",
        f"bases/{DEMO_BASE_ID}/tables/{USERS.id}/fields",
        json={"name": "Nickname", "type": "singleLineText"},
    )
    user = airtable_api_for(sandbox).table(DEMO_BASE_ID, USERS.id).all(max_records=1)[0]
    admin(
        sandbox,
        "PATCH",
        f"bases/{DEMO_BASE_ID}/tables/{USERS.id}/records/{user['id']}",
        json={"fields": {field["id"]: "Nicky"}, "source": "automation"},
    )
    report = live.apply_all()[0]
    assert report.dead_letters == 0 and report.drift >= 1 and report.updated == 1
    drift = query(database_url, "select kind, field_id from airtable_sync.schema_drift")
    assert ("field_created", field["id"]) in drift
    stored = mirror_rows(database_url, COACHING, USERS)[user["id"]]
    assert stored["fields"][field["id"]] == "Nicky"  # a field the spec does not know still lands in `fields`


def test_a_stored_cell_holding_nul_survives_a_change_of_another_cell(sandbox_factory, database_url: str):
    """A payload without ``unchanged`` cells is merged over the stored row, whose escaped cells are decoded first."""
    from airtable_pg.airtable.escaping import unescape_fields
    from airtable_pg.postgres.transaction import transaction
    from airtable_pg.sync.webhook_applier import ApplyReport

    sandbox = sandbox_factory(demo_records=10)
    record = airtable_api_for(sandbox).table(DEMO_BASE_ID, USERS.id).create({USER_FIELDS["name"]: "nul\x00byte"})
    live = synced(sandbox, database_url)
    payload = {
        "timestamp": "2026-12-01T10:00:00.000Z",
        "changedTablesById": {
            USERS.id: {
                "changedRecordsById": {
                    record["id"]: {"current": {"cellValuesByFieldId": {USER_FIELDS["email"]: "new@example.com"}}}
                }
            }
        },
    }
    report = ApplyReport("coaching")
    with transaction(live.db) as cur:
        live.applier(COACHING)._apply_isolated(cur, COACHING, payload, report)
    assert report.updated == 1 and report.dead_letters == 0
    stored = mirror_rows(database_url, COACHING, USERS)[record["id"]]
    assert unescape_fields(stored["fields"])[USER_FIELDS["name"]] == "nul\x00byte"  # escaped once, not twice
    assert stored["email"] == "new@example.com"


def test_an_error_payload_and_table_level_changes_make_the_hook_unhealthy_and_care_recreates_it(
    sandbox_factory, database_url: str
) -> None:
    from airtable_pg.postgres.transaction import transaction
    from airtable_pg.sync.webhook_applier import ApplyReport

    sandbox = sandbox_factory(demo_records=10)
    live = synced(sandbox, database_url)
    payloads = [
        {"timestamp": "2026-12-01T10:00:00.000Z", "destroyedTableIds": ["tblGoneTable00001"]},
        {
            "timestamp": "2026-12-01T10:00:01.000Z",
            "createdTablesById": {"tblNewTable000001": {"metadata": {"name": "New"}}},
        },
        {"timestamp": "2026-12-01T10:00:02.000Z", "error": True, "code": "INVALID_HOOK"},
    ]
    report = ApplyReport("coaching")
    with transaction(live.db) as cur:
        for payload in payloads:
            live.applier(COACHING)._apply_isolated(cur, COACHING, payload, report)
        webhook_state.note_error(cur, COACHING.id, f"{webhook_state.HOOK_ERROR_PREFIX}: {report.hook_error}")
    assert report.dead_letters == 0 and report.hook_error == "INVALID_HOOK"
    kinds = {kind for (kind,) in query(database_url, "select kind from airtable_sync.schema_drift")}
    assert kinds == {"table_destroyed", "table_created"}
    health = live.manager.health(COACHING)
    assert not health.healthy and any("INVALID_HOOK" in problem for problem in health.problems)
    old_id = health.webhook_id
    (result,) = live.care(notification_url=None)
    assert result.ensured.created and result.ensured.replaced is not None
    assert live.manager.health(COACHING).healthy and live.manager.stored(COACHING).webhook_id != old_id


def test_ensure_reuses_a_healthy_hook_and_never_leaks_one(sandbox_factory, database_url: str) -> None:
    sandbox = sandbox_factory(demo_records=10)
    live = synced(sandbox, database_url)
    first = live.manager.stored(COACHING).webhook_id
    (again,) = live.care(notification_url=None)
    assert not again.ensured.created and again.ensured.hook.webhook_id == first and again.gap_poll == []
    (moved,) = live.care(notification_url="http://127.0.0.1:9/airtable/webhook")  # the receiver moved
    assert moved.ensured.created
    hooks = airtable_api_for(sandbox).base(DEMO_BASE_ID).webhooks()
    assert [hook.id for hook in hooks] == [moved.ensured.hook.webhook_id]  # the old one was deleted
    assert "macSecret" not in repr(live.manager.health(COACHING)) and "mac_secret" not in repr(moved.ensured.hook)


def test_status_reports_provisioning_latency_and_a_stuck_applier(
    sandbox_factory, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airtable_pg.cli import status

    sandbox = sandbox_factory(demo_records=10)
    live = synced(sandbox, database_url)
    for name in ("Status Sam", "Status Sue"):
        airtable_api_for(sandbox).table(DEMO_BASE_ID, USERS.id).create({USER_FIELDS["name"]: name})
    live.apply_all()
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert status.main(["--minutes", "5"]) == 0
    out = capsys.readouterr().out
    users_line = next(line for line in out.splitlines() if line.startswith("coaching.users "))
    changes, p50 = users_line.split()[1:3]
    assert int(changes) >= 2 and 0 <= float(p50) < 60
    query(database_url, "insert into airtable_sync.inbox (base_id, webhook_id, body, received_at) "
          "select base_id, webhook_id, '{}'::jsonb, now() - interval '5 minutes' from airtable_sync.webhook "
          "returning id")  # fmt: skip
    assert status.main([]) == 1
    assert "(STUCK)" in capsys.readouterr().out


def fast_requests_by_base(database_url: str) -> dict[str, int]:
    return dict(query(database_url, "select base_id, fast_requests from airtable_sync.rate_limit"))


def test_payloads_are_read_in_their_bases_lane_and_hook_care_never_in_the_fast_one(
    sandbox_factory, database_url: str, tmp_path
) -> None:
    sandbox = sandbox_factory(demo_records=20)
    # A second base with no fast-lane table: its payload reads must leave the users' reserved slots alone.
    other = merge_base(None, "hostile", HOSTILE_BASE_ID, fetch_tables(airtable_api_for(sandbox), HOSTILE_BASE_ID))
    assert all(table.lane == "standard" for table in other.tables.values())
    spec = SyncSpec(path=str(tmp_path / "spec.yaml"), bases={"coaching": COACHING, "hostile": other})
    live = LiveSync(spec, database_url, airtable_config(sandbox), workers=1)
    for base in spec.bases.values():
        live.manager.ensure(base, None)
    assert fast_requests_by_base(database_url).get(DEMO_BASE_ID, 0) == 0  # creating hooks is no provisioning

    assert [report.pages for report in live.apply_all()] == [1, 1]
    fast = fast_requests_by_base(database_url)
    assert fast[DEMO_BASE_ID] == 1  # the users' base: its payload page in the fast lane
    assert fast.get(HOSTILE_BASE_ID, 0) == 0
