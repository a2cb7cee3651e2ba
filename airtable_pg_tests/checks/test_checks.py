"""Each cutover gate passes on a clean sync, and fails for the right reason — naming the record and the field —
when the mirror is broken behind the sync's back or Airtable changes under it."""

from __future__ import annotations

import pytest

from airtable_pg.checks import quality as quality_module
from airtable_pg.checks.context import CheckContext
from airtable_pg.checks.runner import CHECKS
from airtable_pg_tests.checks.helpers import BASE, DEMO, any_live_id, check, context, execute, synced
from airtable_pg_tests.sync_helpers import admin, make_sync_engine, records_path
from airtable_sandbox.server import Sandbox

USERS = BASE.tables["users"]
GOALS = BASE.tables["personal_goals"]
EMAIL = "fldUsrEmail000000"
AIRTABLE_CHECKS = {"reconcile_counts", "reconcile_sample", "quality", "schema_drift"}


@pytest.fixture
def demo(sandbox_factory) -> Sandbox:
    return sandbox_factory(demo_records=80)


@pytest.fixture
def ctx(demo: Sandbox, database_url: str) -> CheckContext:
    return synced(demo, database_url)


def edit_user(sandbox: Sandbox, record_id: str, fields: dict) -> None:
    admin(sandbox, "PATCH", f"{records_path(BASE.id, USERS.id)}/{record_id}", json={"fields": fields})


def resync(sandbox: Sandbox, database_url: str) -> CheckContext:
    with make_sync_engine(sandbox, database_url) as engine:
        engine.sync_tables("full")
    return context(sandbox, database_url)


def test_every_check_passes_on_a_clean_sync(ctx: CheckContext):
    for _, table in DEMO.tables():
        for name in CHECKS:
            result = check(ctx, name, table.key)
            assert result.passed, f"{table.key} {name}: {result.reason}"
            assert not result.failing_ids and not result.blocks
    # The Airtable side goes through the shared limiter and is counted; the metadata is read once per base.
    users_counts = check(ctx, "reconcile_counts", "users")
    assert users_counts.requests >= 1
    assert users_counts.details["airtable_count"] == users_counts.details["postgres_count"] > 0
    assert check(ctx, "reconcile_sample", "personal_goals").details["strata"].keys() >= {
        "random", "created_day", "by_user", "by_program",
    }  # fmt: skip


def test_a_row_deleted_behind_the_syncs_back_fails_the_counts(ctx: CheckContext, database_url: str):
    gone = any_live_id(database_url, "users")
    execute(database_url, "delete from airtable.users where airtable_id = %s", gone)
    result = check(ctx, "reconcile_counts", "users")
    assert not result.passed and result.blocks
    assert result.details["missing_in_postgres"] == [gone] and result.failing_ids == [gone]
    assert result.details["airtable_count"] == result.details["postgres_count"] + 1
    assert gone in result.reason and "missing in Postgres" in result.reason


def test_a_cell_changed_in_postgres_fails_the_sample_naming_record_and_field(ctx: CheckContext, database_url: str):
    changed = any_live_id(database_url, "users")
    execute(
        database_url, "update airtable.users set email = 'someone.else@example.com' where airtable_id = %s", changed
    )
    result = check(ctx, "reconcile_sample", "users")
    assert not result.passed and result.failing_ids == [changed]
    [mismatch] = result.details["mismatches"]
    assert (mismatch["record"], mismatch["field"], mismatch["column"]) == (changed, EMAIL, "email")
    assert mismatch["problem"] == "typed column differs from Airtable"
    assert mismatch["column_value"] == '"someone.else@example.com"'
    assert changed in result.reason and EMAIL in result.reason

    execute(
        database_url,
        "update airtable.users set fields = jsonb_set(fields, '{fldUsrPhone000000}', '\"000\"') where airtable_id = %s",
        changed,
    )
    problems = {(m["field"], m["problem"]) for m in check(ctx, "reconcile_sample", "users").details["mismatches"]}
    assert ("fldUsrPhone000000", "fields jsonb differs from Airtable") in problems


def test_a_bad_email_in_airtable_fails_quality(demo: Sandbox, ctx: CheckContext, database_url: str):
    bad = any_live_id(database_url, "users")
    edit_user(demo, bad, {EMAIL: "not-an-email"})
    result = check(resync(demo, database_url), "quality", "users")
    assert not result.passed and result.severity == "error" and result.blocks
    [failure] = result.details["failures"]
    assert (failure["field"], failure["rule"], failure["count"]) == (EMAIL, "is a valid e-mail", 1)
    assert failure["examples"] == [{"record": bad, "value": "not-an-email"}]
    assert result.failing_ids == [bad]


def test_a_duplicate_email_in_airtable_fails_quality(demo: Sandbox, ctx: CheckContext, database_url: str):
    first, second = (row[0] for row in execute(
        database_url, "select airtable_id from airtable.users order by airtable_id limit 2"
    ))  # fmt: skip
    taken = execute(database_url, "select email from airtable.users where airtable_id = %s", first)[0][0]
    edit_user(demo, second, {EMAIL: taken.upper()})  # e-mail addresses are case-insensitive
    result = check(resync(demo, database_url), "quality", "users")
    assert not result.passed and result.blocks
    [failure] = result.details["failures"]
    assert (failure["field"], failure["rule"], failure["count"]) == (EMAIL, "is unique", 2)
    assert sorted(result.failing_ids) == sorted([first, second])


def test_an_empty_required_email_fails_quality(demo: Sandbox, ctx: CheckContext, database_url: str):
    blank = any_live_id(database_url, "users")
    edit_user(demo, blank, {EMAIL: None})
    result = check(resync(demo, database_url), "quality", "users")
    assert [(f["field"], f["rule"]) for f in result.details["failures"]] == [(EMAIL, "is not null")]
    assert result.failing_ids == [blank]


def test_quality_streams_chunks_and_names_the_record_in_a_later_chunk(
    demo: Sandbox, ctx: CheckContext, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(quality_module, "CHUNK_ROWS", 3)
    last = execute(database_url, "select max(airtable_id) from airtable.users")[0][0]  # in the last chunk
    edit_user(demo, last, {EMAIL: "two@@signs.example"})
    result = check(resync(demo, database_url), "quality", "users")
    assert result.failing_ids == [last]
    assert result.details["rows"] == execute(database_url, "select count(*) from airtable.users")[0][0]


def test_a_rating_out_of_scale_in_postgres_fails_and_an_unknown_option_warns(ctx: CheckContext, database_url: str):
    goal = any_live_id(database_url, "personal_goals")
    execute(database_url, "update airtable.personal_goals set priority = 9 where airtable_id = %s", goal)
    result = check(ctx, "quality", "personal_goals")
    assert [(f["column"], f["rule"]) for f in result.details["failures"]] == [("priority", "is a rating 1–5")]
    assert result.blocks and result.failing_ids == [goal]

    execute(
        database_url, "update airtable.personal_goals set priority = 2, status = 'Paused' where airtable_id = %s", goal
    )
    warning = check(ctx, "quality", "personal_goals")
    assert not warning.passed and warning.severity == "warn" and not warning.blocks  # warnings never block
    assert [(f["column"], f["rule"]) for f in warning.details["failures"]] == [
        ("status", "is one of the field's options")
    ]


def test_a_dangling_link_fails_link_integrity(ctx: CheckContext, database_url: str):
    goal = any_live_id(database_url, "personal_goals")
    user = execute(
        database_url, "select linked_airtable_id from airtable.personal_goals__user where airtable_id = %s", goal
    )[0][0]
    execute(
        database_url,
        "update airtable.personal_goals__user set linked_airtable_id = 'recNoSuchUser0001' where airtable_id = %s",
        goal,
    )
    result = check(ctx, "links", "personal_goals")
    assert not result.passed and result.blocks
    problems = {(b["table"], b["record"], b["field"], b["linked"], b["problem"]) for b in result.details["bad_links"]}
    assert problems == {
        ("personal_goals", goal, "fldGolUser0000000", "recNoSuchUser0001", "points at no live row (join table)"),
        ("personal_goals", goal, "fldGolUser0000000", None, "column and join table differ"),
        # The user still lists the goal, which no longer lists them back: the two-way link disagrees.
        ("users", user, "fldUsrGoals000000", goal, "not listed back by personal_goals.user"),
    }
    assert result.failing_ids == [goal, user]
    # Checked once, from the child's side (its asset runs after the parent's): the parent's own check is clean.
    assert check(ctx, "links", "users").passed


def test_a_link_to_a_tombstoned_row_dangles(ctx: CheckContext, database_url: str):
    program = execute(database_url, "select linked_airtable_id from airtable.methods__program limit 1")[0][0]
    execute(database_url, "update airtable.programs set deleted_at = now() where airtable_id = %s", program)
    result = check(ctx, "links", "methods")
    assert not result.passed
    assert {b["linked"] for b in result.details["bad_links"] if b["linked"]} == {program}


def test_a_stale_table_fails_freshness(ctx: CheckContext, database_url: str):
    execute(
        database_url,
        "update airtable_sync.table_state set last_full_sync_completed_at = now() - interval '10 minutes', "
        "last_incremental_sync_at = null where table_id = %s",
        USERS.id,
    )
    execute(
        database_url,
        "update airtable_sync.change_event set applied_at = now() - interval '5 minutes' where table_id = %s",
        USERS.id,
    )
    result = check(ctx, "freshness", "users")
    assert not result.passed and result.blocks
    assert result.details["bound_seconds"] == 120 and result.details["age_seconds"] >= 299
    assert "applied change" in result.reason and "over the 120 s bound" in result.reason
    # programs (standard lane, polled every 300 s) may be 10 minutes old.
    assert check(ctx, "freshness", "programs").details["bound_seconds"] == 600


def test_a_quiet_table_is_fresh_while_its_webhook_applies_and_stale_when_a_notification_waits(
    demo: Sandbox, ctx: CheckContext, database_url: str
):
    from airtable_pg.sync.live import LiveSync
    from airtable_pg_tests.sync_helpers import airtable_config

    live = LiveSync(DEMO, database_url, airtable_config(demo), workers=2)
    live.care(None)
    execute(
        database_url,
        "update airtable_sync.table_state set last_full_sync_completed_at = now() - interval '10 minutes', "
        "last_incremental_sync_at = now() - interval '10 minutes' where table_id = %s",
        USERS.id,
    )
    execute(database_url, "update airtable_sync.change_event set applied_at = now() - interval '10 minutes'")
    live.apply_all()  # nothing changed in Airtable: the pass itself proves the mirror current
    fresh = check(ctx, "freshness", "users")
    assert fresh.passed and "webhook pass" in fresh.reason
    execute(
        database_url,
        "insert into airtable_sync.inbox (base_id, webhook_id, body, received_at) "
        "select base_id, webhook_id, '{}'::jsonb, now() - interval '5 minutes' from airtable_sync.webhook",
    )
    waiting = check(ctx, "freshness", "users")
    assert not waiting.passed and "notification has waited" in waiting.reason


def test_a_change_left_in_the_outbox_makes_its_table_stale(ctx: CheckContext, database_url: str):
    goals = DEMO.bases["coaching"].tables["personal_goals"]
    assert check(ctx, "freshness", "personal_goals").passed
    execute(
        database_url,
        "insert into airtable_sync.outbox (base_id, table_id, mirror_schema, mirror_table, row_id, operation, "
        "changed_at) values (%s, %s, 'airtable', 'personal_goals', gen_random_uuid(), 'upsert', "
        "now() - interval '1 hour')",
        BASE.id,
        goals.id,
    )
    stale = check(ctx, "freshness", "personal_goals")
    assert not stale.passed and "waited" in stale.reason and "outbox" in stale.reason


def test_a_never_synced_table_is_not_fresh(demo: Sandbox, database_url: str):
    result = check(context(demo, database_url), "freshness", "users")
    assert not result.passed and "never synced" in result.reason


def test_a_new_airtable_field_is_schema_drift(demo: Sandbox, ctx: CheckContext, database_url: str):
    # a fresh context: the metadata is read once per context
    added = admin(demo, "POST", f"bases/{BASE.id}/tables/{USERS.id}/fields", json={
        "name": "nickname", "type": "singleLineText",
    })  # fmt: skip
    result = check(context(demo, database_url), "schema_drift", "users")
    assert not result.passed and result.blocks
    assert result.failing_ids == [added["id"]]
    assert [(d["kind"], d["field"]) for d in result.details["drift"]] == [("new", added["id"])]
    assert "'nickname'" in result.reason and "airtable-pg spec pull" in result.reason and "db revision" in result.reason


def test_the_outbound_idempotency_key_field_is_not_drift(demo: Sandbox, ctx: CheckContext, database_url: str):
    goals = DEMO.bases["coaching"].tables["personal_goals"]
    admin(demo, "POST", f"bases/{BASE.id}/tables/{goals.id}/fields", json={"name": goals.idempotency_field,
          "type": "singleLineText"})  # fmt: skip
    assert check(context(demo, database_url), "schema_drift", "personal_goals").passed


def test_a_retyped_field_is_schema_drift(demo: Sandbox, ctx: CheckContext, database_url: str):
    # a fresh context: the metadata is read once per context
    admin(demo, "PATCH", f"bases/{BASE.id}/tables/{USERS.id}/fields/fldUsrPhone000000", json={"type": "singleLineText"})
    result = check(context(demo, database_url), "schema_drift", "users")
    assert not result.passed and result.failing_ids == ["fldUsrPhone000000"]
    assert [d["kind"] for d in result.details["drift"]] == ["retyped"]
    assert "phoneNumber → singleLineText" in result.reason


def test_a_rename_alone_is_a_warning(demo: Sandbox, ctx: CheckContext, database_url: str):
    # a fresh context: the metadata is read once per context
    admin(demo, "PATCH", f"bases/{BASE.id}/tables/{USERS.id}/fields/fldUsrPhone000000", json={"name": "telefoon"})
    result = check(context(demo, database_url), "schema_drift", "users")
    assert not result.passed and result.severity == "warn" and not result.blocks
    assert result.details["remedy"] == ["airtable-pg spec pull --base appCoachingDemo01"]


def test_a_check_that_cannot_run_fails(demo: Sandbox, ctx: CheckContext):
    demo.stop()  # Airtable unreachable: the gate must not pass for want of looking
    result = check(ctx, "reconcile_counts", "users")
    assert not result.passed and result.blocks and result.reason.startswith("could not run")
