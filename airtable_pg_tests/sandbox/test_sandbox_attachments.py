"""The sandbox serves attachment content at signed URLs that expire, as Airtable's content URLs do."""

from __future__ import annotations

import requests

from airtable_sandbox.attachments import EXPIRED_BODY, EXPIRED_STATUS
from airtable_sandbox.demo import DEMO_BASE_ID, DEMO_TABLE_IDS, USER_FIELDS
from airtable_sandbox.pytest_plugin import SandboxFactory, airtable_api_for
from airtable_sandbox.server import Sandbox

AVATAR = USER_FIELDS["avatar"]


def _first_avatar(sandbox: Sandbox) -> tuple[str, dict]:
    table = airtable_api_for(sandbox).table(DEMO_BASE_ID, DEMO_TABLE_IDS["users"])
    for record in table.all(use_field_ids=True):
        if record["fields"].get(AVATAR):
            return record["id"], record["fields"][AVATAR][0]
    raise AssertionError("the demo has no user with an avatar")


def test_attachment_objects_are_airtables_and_their_urls_serve_the_bytes(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(demo_records=60)
    _, avatar = _first_avatar(sandbox)

    assert avatar["id"].startswith("att") and len(avatar["id"]) == 17
    assert {"id", "url", "filename", "size", "type", "width", "height", "thumbnails"} <= set(avatar)
    assert set(avatar["thumbnails"]) == {"small", "large", "full"}
    assert avatar["url"].startswith(f"{sandbox.url}/_content/")

    body = requests.get(avatar["url"], timeout=10)  # no token: content URLs are public, like Airtable's
    assert body.status_code == 200
    assert len(body.content) == avatar["size"]
    again = requests.get(avatar["url"], timeout=10).content
    assert again == body.content  # the same bytes on every download: a copy can be verified
    thumb = requests.get(avatar["thumbnails"]["small"]["url"], timeout=10)
    assert thumb.status_code == 200 and 0 < len(thumb.content) <= avatar["size"]


def test_an_expired_url_answers_gone_and_a_fresh_read_gives_a_working_one(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(demo_records=60, attachment_url_ttl_seconds=60)
    record_id, avatar = _first_avatar(sandbox)
    assert requests.get(avatar["url"], timeout=10).status_code == 200

    sandbox.clock.advance(61)
    expired = requests.get(avatar["url"], timeout=10)
    assert expired.status_code == EXPIRED_STATUS
    assert expired.content == EXPIRED_BODY

    table = airtable_api_for(sandbox).table(DEMO_BASE_ID, DEMO_TABLE_IDS["users"])
    fresh = table.get(record_id, use_field_ids=True)["fields"][AVATAR][0]
    assert fresh["id"] == avatar["id"] and fresh["url"] != avatar["url"]
    assert requests.get(fresh["url"], timeout=10).status_code == 200


def test_a_tampered_url_serves_nothing(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(demo_records=60)
    _, avatar = _first_avatar(sandbox)
    expires = avatar["url"].split("/_content/", 1)[1].split("/", 1)[0]
    extended = avatar["url"].replace(f"/_content/{expires}/", f"/_content/{int(expires) + 10**9}/")
    assert requests.get(extended, timeout=10).status_code == 404


def test_an_attachment_added_by_url_gets_an_id_and_content(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(demo_records=60)
    table = airtable_api_for(sandbox).table(DEMO_BASE_ID, DEMO_TABLE_IDS["users"])
    record = table.all(max_records=1)[0]
    updated = table.update(record["id"], {AVATAR: [{"url": "https://example.com/me.png"}]}, use_field_ids=True)
    added = updated["fields"][AVATAR][0]
    assert added["id"].startswith("att") and added["filename"] == "me.png" and added["type"] == "image/png"
    body = requests.get(added["url"], timeout=10)
    assert body.status_code == 200 and len(body.content) == added["size"] > 0
