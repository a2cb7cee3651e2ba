"""A request the sandbox refuses changes nothing: no half-created record, no transaction, no payload."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pyairtable import Api

from airtable_sandbox.events import Transaction
from airtable_sandbox.pytest_plugin import SandboxFactory, airtable_api_for
from airtable_sandbox.server import Sandbox
from airtable_sandbox.store import UI_ACTOR

BASE = "appFailedRequests"
TABLE = "tblFailedRequest"
NAME = "fldFailedName001"
NOTES = "fldFailedNotes01"
# What a client sends for the Python string "\ud800": valid JSON, but no valid Unicode text.
LONE_SURROGATE_BODY = b'{"records": [{"fields": {"Name": "ok"}}, {"fields": {"Name": "\\ud800"}}]}'


def _schema() -> list[dict[str, Any]]:
    fields = [
        {"id": NAME, "name": "Name", "type": "singleLineText"},
        {"id": NOTES, "name": "Notes", "type": "multilineText"},
    ]
    return [{"id": TABLE, "name": "Things", "primaryFieldId": NAME, "fields": fields, "views": []}]


@pytest.fixture
def failing_sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    sandbox = sandbox_factory(demo_records=None)
    sandbox.add_base(_schema(), BASE, "Failed requests")
    return sandbox


@pytest.fixture
def api(failing_sandbox: Sandbox) -> Api:
    return airtable_api_for(failing_sandbox, retry_strategy=None)


def _post(sandbox: Sandbox, path: str, body: bytes, method: str = "POST") -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.token}", "Content-Type": "application/json"}
    return requests.request(method, sandbox.url + path, data=body, headers=headers, timeout=10)


def test_create_with_a_lone_surrogate_fails_cleanly_and_creates_nothing(failing_sandbox: Sandbox, api: Api) -> None:
    table = api.table(BASE, TABLE)
    table.create({"Name": "before"})
    seen: list[Transaction] = []
    failing_sandbox.store.add_listener(seen.append)

    response = _post(failing_sandbox, f"/v0/{BASE}/{TABLE}", LONE_SURROGATE_BODY)

    assert response.status_code == 422
    assert response.json()["error"]["type"] == "INVALID_REQUEST_UNKNOWN"
    assert [record["fields"] for record in table.all()] == [{"Name": "before"}]
    assert seen == []


def test_update_with_a_lone_surrogate_leaves_the_record_as_it_was(failing_sandbox: Sandbox, api: Api) -> None:
    table = api.table(BASE, TABLE)
    record = table.create({"Name": "kept", "Notes": "unchanged"})
    body = b'{"fields": {"Notes": "\\udfff broken"}}'

    response = _post(failing_sandbox, f"/v0/{BASE}/{TABLE}/{record['id']}", body, method="PATCH")

    assert response.status_code == 422
    assert table.get(record["id"])["fields"] == {"Name": "kept", "Notes": "unchanged"}


def test_admin_edit_with_a_lone_surrogate_fails_cleanly(failing_sandbox: Sandbox, api: Api) -> None:
    response = _post(failing_sandbox, f"/_sandbox/bases/{BASE}/tables/{TABLE}/records", LONE_SURROGATE_BODY)

    assert response.status_code == 422
    assert api.table(BASE, TABLE).all() == []


def test_store_refuses_a_value_it_cannot_keep_before_changing_anything(failing_sandbox: Sandbox) -> None:
    store = failing_sandbox.store
    with pytest.raises(Exception, match="INVALID_VALUE_FOR_COLUMN"):
        store.create(BASE, TABLE, [{"Name": "fine"}, {"Name": "\ud800"}], actor=UI_ACTOR)
    assert store.count_records(BASE, TABLE) == 0


def test_paired_surrogates_are_ordinary_text(api: Api) -> None:
    table = api.table(BASE, TABLE)
    created = table.create({"Name": "smile \U0001f600"})
    assert table.get(created["id"])["fields"]["Name"] == "smile \U0001f600"
