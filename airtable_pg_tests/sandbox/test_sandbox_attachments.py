"""The sandbox serves attachment content at signed URLs that expire, as Airtable's content URLs do."""

from __future__ import annotations

import base64

import pytest
import requests
from pyairtable import Table

from airtable_sandbox.attachments import EXPIRED_BODY, EXPIRED_STATUS, MAX_UPLOAD_BYTES
from airtable_sandbox.demo import DEMO_BASE_ID, DEMO_TABLE_IDS, USER_FIELDS
from airtable_sandbox.pytest_plugin import SandboxFactory, airtable_api_for
from airtable_sandbox.server import Sandbox

AVATAR = USER_FIELDS["avatar"]
NAME = USER_FIELDS["name"]


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


def _upload_target(sandbox: Sandbox) -> tuple[Table, str, list[dict]]:
    """A users table client, a user's record id and the avatars it holds before the upload."""
    table = airtable_api_for(sandbox, retry_strategy=None).table(DEMO_BASE_ID, DEMO_TABLE_IDS["users"])
    record_id, _ = _first_avatar(sandbox)
    return table, record_id, table.get(record_id, use_field_ids=True)["fields"][AVATAR]


def test_pyairtables_upload_reaches_the_sandbox_and_the_url_serves_the_uploaded_bytes(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(demo_records=60)
    table, record_id, before = _upload_target(sandbox)
    content = bytes(range(256)) * 40  # not text: base64 and the served bytes must round-trip exactly

    # By the field's name, as pyairtable's users write it; pyairtable sends it to content.airtable.com.
    result = table.upload_attachment(record_id, "avatar", filename="scan.bin", content=content, content_type="x/y")

    assert result["id"] == record_id and set(result["fields"]) == {AVATAR}  # keyed by field id, the cell alone
    cell = result["fields"][AVATAR]
    assert [a["id"] for a in cell[:-1]] == [a["id"] for a in before]  # appended: the avatars it had stay
    uploaded = cell[-1]
    assert uploaded["id"].startswith("att") and len(uploaded["id"]) == 17
    assert (uploaded["filename"], uploaded["size"], uploaded["type"]) == ("scan.bin", len(content), "x/y")
    assert requests.get(uploaded["url"], timeout=10).content == content
    reread = table.get(record_id, use_field_ids=True)["fields"][AVATAR]
    assert reread[-1]["id"] == uploaded["id"] and requests.get(reread[-1]["url"], timeout=10).content == content


def test_an_upload_is_a_public_api_change_that_webhooks_report(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(demo_records=60)
    table, record_id, _ = _upload_target(sandbox)
    spec = {"options": {"filters": {"dataTypes": ["tableData"]}}}
    hook = table.api.base(DEMO_BASE_ID).add_webhook("http://127.0.0.1:9/ping", spec)  # the discard port: no one

    table.upload_attachment(record_id, AVATAR, filename="a.txt", content=b"hello", content_type="text/plain")

    [payload] = list(table.api.base(DEMO_BASE_ID).webhook(hook.id).payloads())
    assert payload.action_metadata.source == "publicApi"
    changed = payload.changed_tables_by_id[DEMO_TABLE_IDS["users"]].changed_records_by_id[record_id]
    assert changed.current.cell_values_by_field_id[AVATAR][-1]["filename"] == "a.txt"


def test_an_upload_counts_against_the_bases_rate_limit(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(demo_records=60)
    table, record_id, _ = _upload_target(sandbox)
    before = sandbox.stats()["bases"][DEMO_BASE_ID]["requests"]
    table.upload_attachment(record_id, AVATAR, filename="a.txt", content=b"hello", content_type="text/plain")
    assert sandbox.stats()["bases"][DEMO_BASE_ID]["requests"] == before + 1


def test_five_mb_upload_is_taken_and_one_byte_more_is_refused_with_nothing_written(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(demo_records=60)
    table, record_id, before = _upload_target(sandbox)

    with pytest.raises(requests.HTTPError) as too_large:
        table.upload_attachment(record_id, AVATAR, filename="big.bin", content=b"x" * (MAX_UPLOAD_BYTES + 1))
    assert too_large.value.response.status_code == 413
    assert table.get(record_id, use_field_ids=True)["fields"][AVATAR] == before

    result = table.upload_attachment(record_id, AVATAR, filename="max.bin", content=b"x" * MAX_UPLOAD_BYTES)
    assert result["fields"][AVATAR][-1]["size"] == MAX_UPLOAD_BYTES


@pytest.mark.parametrize(
    ("record", "field", "status", "error_type"),
    [
        ("recNoSuchRecord00", AVATAR, 403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"),
        (None, "no such field", 422, "UNKNOWN_FIELD_NAME"),
        (None, NAME, 422, "INVALID_VALUE_FOR_COLUMN"),  # a text field takes no attachment
    ],
)
def test_an_upload_to_no_record_or_no_attachment_field_answers_airtables_error(
    sandbox_factory: SandboxFactory, record: str | None, field: str, status: int, error_type: str
) -> None:
    sandbox = sandbox_factory(demo_records=60)
    table, record_id, _ = _upload_target(sandbox)
    with pytest.raises(requests.HTTPError) as refused:
        table.upload_attachment(record or record_id, field, filename="a.txt", content=b"hi", content_type="text/plain")
    assert refused.value.response.status_code == status
    assert refused.value.response.json()["error"]["type"] == error_type


@pytest.mark.parametrize(
    "body",
    [
        {"contentType": "text/plain", "file": base64.b64encode(b"hi").decode()},  # no filename
        {"contentType": "text/plain", "file": "not base64!", "filename": "a.txt"},
        {"contentType": "text/plain", "file": "aGk=", "filename": "a.txt", "typecast": True},  # an unknown key
    ],
)
def test_a_malformed_upload_body_answers_422(sandbox_factory: SandboxFactory, body: dict) -> None:
    sandbox = sandbox_factory(demo_records=60)
    record_id, _ = _first_avatar(sandbox)
    response = requests.post(
        f"{sandbox.url}/v0/{DEMO_BASE_ID}/{record_id}/{AVATAR}/uploadAttachment",
        json=body,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "INVALID_REQUEST_UNKNOWN"
