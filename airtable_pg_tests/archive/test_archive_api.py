"""``airtable-pg api`` serves archived attachments at the view's stable URLs, over real HTTP, from each store."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import requests

from airtable_pg.archive.config import ArchiveConfig
from airtable_pg.postgres import api_tokens
from airtable_pg.postgres.transaction import transaction
from airtable_pg.receiver.server import ReceiverServer
from airtable_pg_tests.archive.test_archive import synced, view
from airtable_pg_tests.sync_helpers import sandbox_runtime
from airtable_sandbox.attachments import content_bytes
from airtable_sandbox.demo import DEMO_BASE_ID

PUBLIC = "https://app.example.com/airtable-api/archive"


def test_the_api_serves_each_archived_copy_at_the_views_url(
    sandbox_factory, database_url: str, archive_config: ArchiveConfig
) -> None:
    config = dataclasses.replace(archive_config, public_url=PUBLIC)
    sandbox, archiver = synced(sandbox_factory, database_url, config)
    archiver.run()
    runtime = dataclasses.replace(sandbox_runtime(sandbox, database_url), archive=config)
    with transaction(runtime.db) as cur:
        _, token = api_tokens.create_token(cur, "archive reader", [DEMO_BASE_ID], can_write=False)
        _, stranger = api_tokens.create_token(cur, "another base", ["appSomethingElse1"], can_write=False)
    rows = view(database_url)
    assert rows
    with ReceiverServer(runtime.api_app()) as server:

        def get(path: str, bearer: str | None = token, **headers: str) -> requests.Response:
            if bearer:
                headers["Authorization"] = f"Bearer {bearer}"
            return requests.get(f"{server.url}/archive/{path}", headers=headers, timeout=30)

        for attachment_id, row in rows.items():
            # The view's url is this route's address under the public URL: the app serves what the view says.
            assert row["url"] == f"{PUBLIC}/{row['path']}"
            answer = get(row["path"])
            assert answer.status_code == 200, answer.text
            assert answer.content == content_bytes(attachment_id, "file", row["size"])
            assert answer.headers["Content-Type"].split(";")[0] == row["content_type"]
            assert answer.headers["ETag"] == f'"{row["sha256"]}"' == f'"{hashlib.sha256(answer.content).hexdigest()}"'
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in answer.headers["Content-Security-Policy"]
            for variant, thumb in (row["thumbnails"] or {}).items():
                assert thumb["url"] == f"{PUBLIC}/{thumb['key']}"
                image = get(thumb["key"])
                assert image.status_code == 200 and hashlib.sha256(image.content).hexdigest() == thumb["sha256"]
                assert image.content == archiver.store.read(thumb["key"]), variant

        attachment_id, row = next(iter(rows.items()))
        whole = content_bytes(attachment_id, "file", row["size"])
        assert row["size"] > 100
        # Conditional and partial requests: what a browser or a CDN sends.
        assert get(row["path"], **{"If-None-Match": f'"{row["sha256"]}"'}).status_code == 304
        part = get(row["path"], Range="bytes=10-19")
        assert part.status_code == 206 and part.content == whole[10:20]
        assert part.headers["Content-Range"] == f"bytes 10-19/{row['size']}"
        tail = get(row["path"], Range="bytes=-7")
        assert tail.status_code == 206 and tail.content == whole[-7:]
        assert get(row["path"], Range=f"bytes={row['size']}-").status_code == 416
        assert get(row["path"], Range="bytes=0-1, 5-6").content == whole  # several ranges: the whole file
        assert get(row["path"], Range="bytes=5-", **{"If-Range": '"stale"'}).content == whole

        # Access, as the rest of the API: no token 401, another base's token 403, an unknown copy 403, a base not
        # in the spec 404, a key that is not the copy's 403.
        assert get(row["path"], bearer=None).status_code == 401
        assert get(row["path"], bearer=sandbox.token).status_code == 401  # Airtable's token is not ours
        assert get(row["path"], bearer=stranger).status_code == 403
        assert get(f"{DEMO_BASE_ID}/attNotArchived0001/file.png").status_code == 403
        assert get("appNotInTheSpec01/attX/file.png").status_code == 404
        assert get(f"{DEMO_BASE_ID}/{attachment_id}/other-name.png").status_code == 403


@pytest.mark.parametrize("archive_config", ["local"], indirect=True)
def test_a_purged_copy_is_no_longer_served(sandbox_factory, database_url: str, archive_config: ArchiveConfig) -> None:
    sandbox, archiver = synced(sandbox_factory, database_url, archive_config)
    archiver.run()
    runtime = dataclasses.replace(sandbox_runtime(sandbox, database_url), archive=archive_config)
    with transaction(runtime.db) as cur:
        _, token = api_tokens.create_token(cur, "archive reader", [DEMO_BASE_ID], can_write=False)
        cur.execute(
            "update airtable_sync.attachment set purged_at = now() where base_id = %s returning store_key",
            (DEMO_BASE_ID,),
        )
        keys = [key for (key,) in cur.fetchall()]
    assert keys and not view(database_url)  # the view lists no purged copy
    with ReceiverServer(runtime.api_app()) as server:
        for key in keys[:5]:
            answer = requests.get(
                f"{server.url}/archive/{key}", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert answer.status_code == 403
