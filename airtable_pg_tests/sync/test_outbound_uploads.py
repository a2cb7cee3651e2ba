"""Attachments the app adds in Postgres that Airtable cannot fetch by URL: a file from the upload directory or a
copy from the archive, uploaded by the pusher (pyairtable's upload_attachment, over HTTP to the sandbox), once."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import requests

from airtable_pg.archive.config import ArchiveConfig
from airtable_pg.sync.outbound import OutboundConfig, OutboundPusher, PushReport
from airtable_pg.sync.uploads import MAX_UPLOAD_BYTES
from airtable_pg_tests.sync.outbound_helpers import GOALS, SPEC, airtable_records_with_key, app_sql, insert_goal, row
from airtable_pg_tests.sync_helpers import make_sync_engine, sandbox_runtime
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.demo import GOAL_FIELDS

EVIDENCE = GOAL_FIELDS["evidence"]


def synced(sandbox_factory, database_url: str):
    sandbox = sandbox_factory(demo_records=30)
    with make_sync_engine(sandbox, database_url, workers=2) as engine:
        engine.sync_tables("full")
    return sandbox


def pusher_for(sandbox, database_url: str, tmp_path: Path, **options) -> OutboundPusher:
    runtime = sandbox_runtime(sandbox, database_url, SPEC, airtable={"max_attempts": 2})
    outbound = OutboundConfig(
        backoff_seconds=0.05, backoff_max_seconds=0.2, lease_seconds=0.3, upload_dir=tmp_path / "uploads"
    )
    archive = ArchiveConfig(store_url=str(tmp_path / "archive"), workers=1)
    after_answer = options.pop("after_answer", None)
    return dataclasses.replace(runtime, outbound=outbound, archive=archive).pusher(after_answer=after_answer)


def evidence_in_airtable(sandbox, row_id: str) -> list[dict]:
    (record,) = airtable_records_with_key(sandbox, GOALS, row_id)
    return record["fields"].get("evidence", [])


def dead_letters(database_url: str) -> list[str]:
    return [error for (error,) in app_sql(database_url, "select error from airtable_sync.dead_letter")]


def test_a_file_from_the_upload_directory_reaches_airtable_once_and_the_row_takes_airtables_object(
    sandbox_factory, database_url: str, tmp_path: Path
) -> None:
    sandbox = synced(sandbox_factory, database_url)
    (tmp_path / "uploads" / "plans").mkdir(parents=True)
    content = b"week 1: walk 20 minutes\n" * 100
    (tmp_path / "uploads" / "plans" / "walking.txt").write_bytes(content)
    row_id = insert_goal(database_url, title="Walk daily", evidence=json.dumps([{"file": "plans/walking.txt"}]))
    pusher = pusher_for(sandbox, database_url, tmp_path)

    report = pusher.push_all()
    assert (report.created, report.dead_lettered, report.requests) == (1, 0, 2)  # the record, then its upload
    (attachment,) = evidence_in_airtable(sandbox, row_id)
    assert attachment["filename"] == "walking.txt" and attachment["type"] == "text/plain"
    assert requests.get(attachment["url"], timeout=10).content == content
    (stored,) = row(database_url, GOALS, row_id)["evidence"]
    assert stored["id"] == attachment["id"]  # the app's {"file": …} is now Airtable's attachment object

    # The row changes again: the attachment is kept by id, not uploaded a second time.
    app_sql(database_url, "update airtable.personal_goals set title = 'Walk every day' where id = %s", (row_id,))
    assert pusher.push_all().requests == 1
    assert [a["id"] for a in evidence_in_airtable(sandbox, row_id)] == [attachment["id"]]


def test_a_push_repeated_after_a_crash_attaches_the_file_once(sandbox_factory, database_url: str, tmp_path) -> None:
    sandbox = synced(sandbox_factory, database_url)
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "scan.pdf").write_bytes(b"%PDF-1.4 a scan")
    evidence = json.dumps([{"file": "scan.pdf", "filename": "Mine.pdf"}])
    row_id = insert_goal(database_url, title="Scan", evidence=evidence)

    def crash() -> None:  # Airtable holds the record and the upload; the write-back never commits
        raise RuntimeError("killed before the commit")

    with pytest.raises(RuntimeError, match="killed"):
        pusher_for(sandbox, database_url, tmp_path, after_answer=crash).push_all()
    assert [a["filename"] for a in evidence_in_airtable(sandbox, row_id)] == ["Mine.pdf"]
    assert row(database_url, GOALS, row_id)["airtable_id"] is None  # the write-back was lost

    again = pusher_for(sandbox, database_url, tmp_path)

    def pushed() -> PushReport | None:  # nothing is due until the crashed push's lease runs out
        report = again.push_all()
        return report if report.pushed or report.dead_lettered else None

    report = wait_until(pushed, timeout=10, what="the change pushed again")
    assert report.pushed == 1 and report.dead_lettered == 0
    (attachment,) = evidence_in_airtable(sandbox, row_id)  # the cell written again, then one upload: still one
    assert attachment["filename"] == "Mine.pdf" and attachment["type"] == "application/pdf"


def test_an_archived_copy_is_uploaded_to_another_record(sandbox_factory, database_url: str, tmp_path) -> None:
    sandbox = synced(sandbox_factory, database_url)
    runtime = sandbox_runtime(sandbox, database_url, SPEC)
    archiver = dataclasses.replace(runtime, archive=ArchiveConfig(store_url=str(tmp_path / "archive"))).archiver()
    archiver.run()
    (attachment_id, sha256, filename) = app_sql(
        database_url,
        "select attachment_id, sha256, filename from airtable_sync.attachment_archive order by attachment_id limit 1",
    )[0]
    row_id = insert_goal(database_url, title="Copied", evidence=json.dumps([{"archived": attachment_id}]))
    assert pusher_for(sandbox, database_url, tmp_path).push_all().created == 1
    (uploaded,) = evidence_in_airtable(sandbox, row_id)
    assert uploaded["id"] != attachment_id and uploaded["filename"] == filename
    assert hashlib.sha256(requests.get(uploaded["url"], timeout=10).content).hexdigest() == sha256


def test_a_file_outside_the_directory_missing_or_too_large_is_a_dead_letter_that_says_so(
    sandbox_factory, database_url: str, tmp_path: Path
) -> None:
    sandbox = synced(sandbox_factory, database_url)
    (tmp_path / "uploads").mkdir()
    (tmp_path / "secret.txt").write_text("not for Airtable")
    (tmp_path / "uploads" / "big.bin").write_bytes(b"\0" * (MAX_UPLOAD_BYTES + 1))
    (tmp_path / "uploads" / "escape").symlink_to(tmp_path / "secret.txt")
    for name in ("../secret.txt", "/etc/hostname", "escape", "nowhere.txt", "big.bin"):
        insert_goal(database_url, title=name, evidence=json.dumps([{"file": name}]))
    insert_goal(database_url, title="unknown copy", evidence=json.dumps([{"archived": "attNoSuchCopy0001"}]))
    report = pusher_for(sandbox, database_url, tmp_path).push_all()
    assert (report.pushed, report.dead_lettered) == (0, 6)
    errors = "\n".join(sorted(dead_letters(database_url)))
    assert errors.count("relative to AIRTABLE_PG_UPLOAD_DIR") == 2  # ../ and an absolute path
    assert errors.count("no such file under AIRTABLE_PG_UPLOAD_DIR") == 2  # a symlink out of it, a missing file
    assert "over Airtable's upload limit of 5,000,000" in errors and "attNoSuchCopy0001" in errors
    assert "not for Airtable" not in errors
