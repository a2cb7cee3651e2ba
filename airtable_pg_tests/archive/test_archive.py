"""The attachment archive against the sandbox, the session's Postgres, and each store (a directory, moto's S3)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from airtable_pg.archive.archiver import Archiver, attachment_fields
from airtable_pg.archive.config import ArchiveConfig
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import load_spec
from airtable_pg.sync.live import LiveSync
from airtable_pg_tests.sync_helpers import airtable_config, make_sync_engine, mirror_rows, sandbox_runtime
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.attachments import content_bytes, thumbnail_size
from airtable_sandbox.demo import DEMO_BASE_ID, USER_FIELDS
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
USERS = COACHING.tables["users"]
AVATAR = USER_FIELDS["avatar"]
DEMO_RECORDS = 40


def make_archiver(sandbox: Sandbox, database_url: str, config: ArchiveConfig) -> Archiver:
    return dataclasses.replace(sandbox_runtime(sandbox, database_url), archive=config).archiver()


def full_sync(sandbox: Sandbox, database_url: str) -> None:
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        engine.sync_tables("full")


def synced(
    sandbox_factory, database_url: str, config: ArchiveConfig, **sandbox_options: Any
) -> tuple[Sandbox, Archiver]:
    """A sandbox with the demo base, the mirror after a full sync of it, and an archiver for ``config``."""
    sandbox = sandbox_factory(demo_records=DEMO_RECORDS, **sandbox_options)
    full_sync(sandbox, database_url)
    return sandbox, make_archiver(sandbox, database_url, config)


def state(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(libpq_url(database_url), row_factory=dict_row) as conn:
        rows = conn.execute("select * from airtable_sync.attachment").fetchall()
    return {row["attachment_id"]: row for row in rows}


def view(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(libpq_url(database_url), row_factory=dict_row) as conn:
        rows = conn.execute("select * from airtable_sync.attachment_archive").fetchall()
    return {row["attachment_id"]: row for row in rows}


def mirrored_attachments(database_url: str) -> dict[str, dict[str, Any]]:
    """Every attachment object in the mirror's live rows, read straight from the mirror tables."""
    found = {}
    for _, table in SPEC.tables():
        for row in mirror_rows(database_url, COACHING, table).values():
            for field_id in attachment_fields(table):
                for attachment in row["fields"].get(field_id) or []:
                    found[attachment["id"]] = attachment
    return found


def assert_every_copy_is_the_file(archiver: Archiver, database_url: str) -> dict[str, dict[str, Any]]:
    """Each live attachment archived once, its copy the sandbox's very bytes, its checksum theirs."""
    expected = mirrored_attachments(database_url)
    rows = state(database_url)
    live = {key: row for key, row in rows.items() if row["tombstoned_at"] is None}
    assert set(live) == set(expected)
    for attachment_id, row in live.items():
        assert row["status"] == "archived", row["last_error"]
        assert row["attempts"] >= 1 and row["claimed_until"] is None
        copy = archiver.store.read(row["store_key"])
        assert copy == content_bytes(attachment_id, "file", expected[attachment_id]["size"])
        assert hashlib.sha256(copy).hexdigest() == row["sha256"] and len(copy) == row["stored_bytes"]
        assert row["filename"] == expected[attachment_id]["filename"]
        offered = expected[attachment_id].get("thumbnails") or {}
        assert set(row["thumbnails"] or {}) == set(offered)  # small, large, full for the demo's images
        for variant, thumb in (row["thumbnails"] or {}).items():
            size = thumbnail_size(expected[attachment_id]["size"], offered[variant])
            thumbnail = archiver.store.read(thumb["key"])
            assert thumbnail == content_bytes(attachment_id, variant, size)
            assert hashlib.sha256(thumbnail).hexdigest() == thumb["sha256"] and thumb["url"].endswith(thumb["key"])
            assert (thumb["width"], thumb["height"]) == (offered[variant]["width"], offered[variant]["height"])
    return live


def stored_bytes(row: dict[str, Any]) -> int:
    return row["stored_bytes"] + sum(t["size"] for t in (row["thumbnails"] or {}).values())


def test_a_full_sync_is_archived_once_with_verified_copies_and_stable_urls(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    _, archiver = synced(sandbox_factory, database_url, archive_config)

    report = archiver.run()
    live = assert_every_copy_is_the_file(archiver, database_url)
    assert report.archived == len(live) > 5 and report.failed == 0 and report.refreshed == 0
    assert report.bytes == sum(stored_bytes(row) for row in live.values())
    assert any(row["thumbnails"] for row in live.values())
    for attachment_id, row in view(database_url).items():  # the app's view: a stable URL per attachment
        assert row["url"] == archiver.store.url(row["path"]) and attachment_id in row["path"]
        assert row["url"].startswith("s3://" if archive_config.store_url.startswith("s3://") else "file://")
    counts = archiver.counts()[DEMO_BASE_ID]
    assert (counts.live, counts.archived, counts.backlog, counts.failed) == (len(live), len(live), 0, 0)
    assert archiver.unverified(DEMO_BASE_ID) == (0, [])

    # Each once: a second run copies nothing, and its look at the mirror rewrites no row (the sensor runs it often).
    versions = _row_versions(database_url)
    again = archiver.run()
    assert _row_versions(database_url) == versions
    assert again.archived == 0 and again.refreshed == 0
    assert {k: r["archived_at"] for k, r in state(database_url).items()} == {
        k: r["archived_at"] for k, r in live.items()
    }


def _row_versions(database_url: str) -> dict[str, str]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute("select attachment_id, xmin::text from airtable_sync.attachment").fetchall()
    return dict(rows)


def test_an_attachment_added_in_airtable_is_archived_after_the_webhook_lands(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    sandbox, archiver = synced(sandbox_factory, database_url, archive_config)
    live = LiveSync(SPEC, database_url, airtable_config(sandbox), workers=4)
    live.care(notification_url=None)
    archiver.run()

    users = airtable_api_for(sandbox).table(DEMO_BASE_ID, USERS.id)
    user = next(r for r in users.all(use_field_ids=True) if r["fields"].get(AVATAR))
    replaced = user["fields"][AVATAR][0]["id"]
    updated = users.update(user["id"], {AVATAR: [{"url": "https://example.com/new-face.png"}]}, use_field_ids=True)
    added = updated["fields"][AVATAR][0]["id"]
    live.apply_all()  # the webhook payload lands in the mirror; the archive then follows on its own time

    report = archiver.run()
    assert report.archived == 1
    rows = assert_every_copy_is_the_file(archiver, database_url)
    assert rows[added]["record_id"] == user["id"] and rows[added]["field_id"] == AVATAR
    assert state(database_url)[replaced]["tombstoned_at"] is not None  # the avatar it replaced left Airtable


def test_an_expired_url_is_read_again_through_the_rate_limiter_and_the_copy_still_made(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    sandbox, archiver = synced(sandbox_factory, database_url, archive_config, attachment_url_ttl_seconds=60)
    sandbox.clock.advance(120)  # every URL the mirror holds has expired
    requests_before = _requests(database_url)

    report = archiver.run()
    live = assert_every_copy_is_the_file(archiver, database_url)
    assert report.archived == len(live) and report.failed == 0
    assert report.refreshed == len(live)  # one fresh read per attachment
    # Each fresh URL cost one record read, and each took its slot from the shared bucket.
    assert _requests(database_url) - requests_before >= report.refreshed


def _requests(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "select coalesce(sum(requests), 0) from airtable_sync.rate_limit where base_id = %s", (DEMO_BASE_ID,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_deleted_attachments_are_tombstoned_and_their_bytes_purged_after_retention(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    sandbox, archiver = synced(sandbox_factory, database_url, archive_config)
    archiver.run()
    users = airtable_api_for(sandbox).table(DEMO_BASE_ID, USERS.id)
    with_avatar = [r for r in users.all(use_field_ids=True) if r["fields"].get(AVATAR)]
    deleted_record, emptied = with_avatar[0], with_avatar[1]
    users.delete(deleted_record["id"])
    users.update(emptied["id"], {AVATAR: []}, use_field_ids=True)
    gone = {deleted_record["fields"][AVATAR][0]["id"], emptied["fields"][AVATAR][0]["id"]}
    full_sync(sandbox, database_url)

    archiver.run()
    rows = state(database_url)
    assert {k for k, r in rows.items() if r["tombstoned_at"] is not None} == gone
    keys = {k: rows[k]["store_key"] for k in gone} | {
        f"{k}/{variant}": thumb["key"] for k in gone for variant, thumb in (rows[k]["thumbnails"] or {}).items()
    }
    assert len(keys) > len(gone)  # the demo's avatars are images: their thumbnails were copied too
    assert archiver.purge().purged == 0  # within retention: the bytes stay, still served by the view
    assert all(archiver.store.size(key) for key in keys.values())
    assert set(view(database_url)) >= gone

    expired = dataclasses.replace(archive_config, retention_seconds=0)
    report = Archiver(archiver.spec, archiver.db, expired).purge()
    assert report.purged == 2
    assert all(archiver.store.size(key) is None for key in keys.values())
    rows = state(database_url)
    assert all(rows[k]["purged_at"] is not None for k in gone) and not set(view(database_url)) & gone
    assert_every_copy_is_the_file(archiver, database_url)  # the live ones untouched


_KILLED_COPIER = textwrap.dedent(
    """
    import dataclasses, os, signal, sys
    from airtable_pg.archive import copier
    from airtable_pg.archive.config import ArchiveConfig
    from airtable_pg.runtime import Runtime
    from airtable_pg.spec import load_spec
    from airtable_pg.airtable.client import AirtableConfig
    from airtable_pg.postgres.migrate import DEMO_VERSIONS

    real_download = copier.download
    copies = 0

    def download_then_die(url, sink):
        # The third attachment's file (the sandbox's URLs say which variant they serve) dies after its first chunk:
        # a partial file on the store, its row still claimed. The first two, thumbnails and all, are done.
        global copies
        copies += "/file/" in url
        def dying_sink(chunk):
            sink(chunk)
            if copies >= 3:
                os.kill(os.getpid(), signal.SIGKILL)
        real_download(url, dying_sink)

    copier.download = download_then_die
    store_url, endpoint, database_url, api_url, token = sys.argv[1:6]
    config = ArchiveConfig(store_url=store_url, s3_endpoint_url=endpoint or None, workers=1, lease_seconds=2.0)
    airtable = AirtableConfig(api_key=token, api_url=api_url)
    runtime = Runtime.open(load_spec(), database_url, airtable, migrations=DEMO_VERSIONS, archive=config)
    runtime.archiver().run()
    """
)


def test_a_copier_killed_mid_copy_counts_no_partial_file_as_done(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    sandbox, archiver = synced(sandbox_factory, database_url, archive_config)
    args = [archive_config.store_url, archive_config.s3_endpoint_url or "", database_url, sandbox.url, sandbox.token]
    child = subprocess.run([sys.executable, "-c", _KILLED_COPIER, *args], env=os.environ.copy(), timeout=120)
    assert child.returncode == -signal.SIGKILL

    rows = state(database_url)
    done = {k for k, r in rows.items() if r["status"] == "archived"}
    assert len(done) == 2  # the two copies finished before the kill; the third was cut short
    claimed = [r for r in rows.values() if r["claimed_until"] is not None]
    assert len(claimed) >= 1 and all(r["status"] == "pending" for r in claimed)
    if not archive_config.store_url.startswith("s3://"):  # s3fs uploads on close: a killed write leaves nothing
        assert len(archiver.store.stale_partials(0)) == 1  # the cut-short copy's partial file, never committed
    for row in claimed:
        assert archiver.store.size(archiver.store.key(row["base_id"], row["attachment_id"], row["filename"])) is None

    # Once the killed copier's lease runs out, the next run copies what it left; the purge sweeps its partial.
    wait_until(lambda: archiver.run().archived > 0, timeout=30, what="the killed copier's lease to run out")
    archiver.run()
    assert_every_copy_is_the_file(archiver, database_url)
    assert archiver.purge().partials_removed == (0 if archive_config.store_url.startswith("s3://") else 1)
    assert not archiver.store.stale_partials(0)


def _set(database_url: str, attachment_id: str, assignments: str, *params: Any) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(f"update airtable_sync.attachment set {assignments} where attachment_id = %s",
                     (*params, attachment_id))  # fmt: skip


def test_a_copy_that_does_not_match_airtables_size_is_never_committed(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    _, archiver = synced(sandbox_factory, database_url, dataclasses.replace(archive_config, max_attempts=1))
    archiver.reconcile()
    victim, row = next(iter(state(database_url).items()))
    _set(database_url, victim, "size = size + 1")  # Airtable "reports" one byte more than the file has

    report = archiver.copy_due()
    rows = state(database_url)
    assert report.failed == 1 and rows[victim]["status"] == "failed"
    assert rows[victim]["last_error"].startswith("VerifyFailed") and rows[victim]["sha256"] is None
    assert archiver.store.size(archiver.store.key(row["base_id"], victim, row["filename"])) is None
    assert not archiver.store.stale_partials(0)  # the partial was removed, not left behind
    assert archiver.unverified(DEMO_BASE_ID) == (1, [victim])
    assert sum(r["status"] == "archived" for r in rows.values()) == len(rows) - 1


def test_a_failing_download_is_retried_then_marked_failed_without_naming_its_url(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    # A back-off far longer than a pass (which took 4.4 s at load 11): the retry is made due by the test, not by luck.
    config = dataclasses.replace(archive_config, max_attempts=2, backoff_seconds=600.0)
    _, archiver = synced(sandbox_factory, database_url, config)
    archiver.reconcile()
    victim = next(iter(state(database_url)))
    dead_url = "http://127.0.0.1:9/never-answers?signature=secret-part"  # port 9 (discard): refused
    _set(database_url, victim, "source_url = %s", dead_url)

    first = archiver.copy_due()
    row = state(database_url)[victim]
    assert first.failed == 1 and row["status"] == "pending"  # due again after the backoff …
    assert row["next_attempt_at"] > datetime.now(UTC) + timedelta(seconds=500)  # … of 600 s
    assert archiver.copy_due().failed == 0  # not before
    _set(database_url, victim, "next_attempt_at = now()")  # the back-off has passed
    assert archiver.copy_due().failed == 1
    row = state(database_url)[victim]
    assert row["status"] == "failed" and row["attempts"] == 2
    assert row["last_error"].startswith("DownloadFailed") and "secret-part" not in row["last_error"]
    assert archiver.counts()[DEMO_BASE_ID].failed == 1
    assert archiver.copy_due().failed == 0  # given up: no more attempts


def test_with_a_public_url_the_view_gives_each_copy_under_it(sandbox_factory, database_url: str, tmp_path) -> None:
    config = ArchiveConfig(store_url=str(tmp_path / "store"), public_url="https://files.example.com/airtable/")
    _, archiver = synced(sandbox_factory, database_url, config)
    archiver.run()
    rows = view(database_url)
    assert rows and all(row["url"] == f"https://files.example.com/airtable/{row['path']}" for row in rows.values())
    assert all(
        thumb["url"] == f"https://files.example.com/airtable/{thumb['key']}"
        for row in rows.values() for thumb in (row["thumbnails"] or {}).values()
    )  # fmt: skip
