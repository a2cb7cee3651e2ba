"""The sandbox's webhooks API, driven over real HTTP by pyairtable exactly as the sync engine will use it.

A small two-table base (tasks linked to projects) keeps every cell type the V1 → V2 conversion touches:
selects, links with their primary names, a lookup through the link and a collaborator.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from pyairtable import Api
from pyairtable.models.webhook import WebhookNotification, WebhookPayload

from airtable_pg_tests.waiting import wait_until
from airtable_sandbox import demo
from airtable_sandbox.clock import Clock
from airtable_sandbox.events import CreatedRecord, TableChanges, Transaction
from airtable_sandbox.server import Sandbox
from airtable_sandbox.store import UI_ACTOR

# Top-level keys of Airtable's samples (pyairtable's tests/sample_data: Webhook.json, WebhookPayload.json without
# its optional destroyedTableIds, WebhookNotification.json).
SAMPLE_WEBHOOK_KEYS = {
    "id",
    "areNotificationsEnabled",
    "cursorForNextPayload",
    "expirationTime",
    "isHookEnabled",
    "lastNotificationResult",
    "lastSuccessfulNotificationTime",
    "notificationUrl",
    "specification",
}
SAMPLE_PAYLOAD_KEYS = {"timestamp", "baseTransactionNumber", "actionMetadata", "payloadFormat"}
SAMPLE_NOTIFICATION_KEYS = {"base", "webhook", "timestamp"}
TOKEN = "patWebhookTests.secret"
BASE_ID = "appWebhookTest001"
WEEK = 7 * 24 * 3600
# A notification URL for tests about something else: the connection is refused at once, nothing leaves the machine.
NOWHERE = "http://127.0.0.1:9/ping"


def _id(prefix: str, label: str) -> str:
    return prefix + label.ljust(14, "0")[:14]


PROJECTS = _id("tbl", "Projects")
TASKS = _id("tbl", "Tasks")
PROJECT_NAME, PROJECT_PHASE, PROJECT_TASKS = _id("fld", "ProjName"), _id("fld", "ProjPhase"), _id("fld", "ProjTasks")
TASK_NAME, TASK_STATUS, TASK_TAGS = _id("fld", "TaskName"), _id("fld", "TaskStatus"), _id("fld", "TaskTags")
TASK_PROJECT, TASK_PHASE, TASK_NOTES = _id("fld", "TaskProject"), _id("fld", "TaskPhase"), _id("fld", "TaskNotes")
TASK_OWNER = _id("fld", "TaskOwner")
STATUS_CHOICES = [
    {"id": _id("sel", "Todo"), "name": "Todo", "color": "redLight2"},
    {"id": _id("sel", "Doing"), "name": "Doing", "color": "yellowLight2"},
]
TAG_CHOICES = [
    {"id": _id("sel", "Urgent"), "name": "urgent", "color": "blueLight2"},
    {"id": _id("sel", "Later"), "name": "later", "color": "grayLight2"},
]
PHASE_CHOICES = [{"id": _id("sel", "Build"), "name": "Build", "color": "greenLight2"}]


def _schema() -> list[dict[str, Any]]:
    projects = {
        "id": PROJECTS,
        "name": "projects",
        "primaryFieldId": PROJECT_NAME,
        "fields": [
            {"id": PROJECT_NAME, "name": "Name", "type": "singleLineText"},
            {"id": PROJECT_PHASE, "name": "Phase", "type": "singleSelect", "options": {"choices": PHASE_CHOICES}},
            {
                "id": PROJECT_TASKS,
                "name": "Tasks",
                "type": "multipleRecordLinks",
                "options": {
                    "linkedTableId": TASKS,
                    "inverseLinkFieldId": TASK_PROJECT,
                    "isReversed": False,
                    "prefersSingleRecordLink": False,
                },
            },
        ],
        "views": [{"id": _id("viw", "Projects"), "name": "Grid view", "type": "grid"}],
    }
    tasks = {
        "id": TASKS,
        "name": "tasks",
        "primaryFieldId": TASK_NAME,
        "fields": [
            {"id": TASK_NAME, "name": "Name", "type": "singleLineText"},
            {"id": TASK_STATUS, "name": "Status", "type": "singleSelect", "options": {"choices": STATUS_CHOICES}},
            {"id": TASK_TAGS, "name": "Tags", "type": "multipleSelects", "options": {"choices": TAG_CHOICES}},
            {
                "id": TASK_PROJECT,
                "name": "Project",
                "type": "multipleRecordLinks",
                "options": {
                    "linkedTableId": PROJECTS,
                    "inverseLinkFieldId": PROJECT_TASKS,
                    "isReversed": False,
                    "prefersSingleRecordLink": True,
                },
            },
            {
                "id": TASK_PHASE,
                "name": "Project phase",
                "type": "multipleLookupValues",
                "options": {
                    "isValid": True,
                    "recordLinkFieldId": TASK_PROJECT,
                    "fieldIdInLinkedTable": PROJECT_PHASE,
                    "result": {"type": "singleSelect", "options": {"choices": PHASE_CHOICES}},
                },
            },
            {"id": TASK_NOTES, "name": "Notes", "type": "multilineText"},
            {"id": TASK_OWNER, "name": "Owner", "type": "singleCollaborator"},
        ],
        "views": [{"id": _id("viw", "Tasks"), "name": "Grid view", "type": "grid"}],
    }
    return [projects, tasks]


TABLE_DATA = {"options": {"filters": {"dataTypes": ["tableData"]}}}


def _spec(filters: dict[str, Any] | None = None, includes: dict[str, Any] | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"filters": {"dataTypes": ["tableData"], **(filters or {})}}
    if includes is not None:
        options["includes"] = includes
    return {"options": options}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def start_sandbox(clock: Clock) -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        sandbox = Sandbox(TOKEN, rate_limit_per_second=None, token_rate_limit_per_second=None, clock=clock, **options)
        sandbox.add_base(_schema(), BASE_ID, "webhook tests")
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return start_sandbox()


@pytest.fixture
def api(sandbox: Sandbox) -> Api:
    return Api(TOKEN, endpoint_url=sandbox.url, timeout=(5, 10))


def _raw(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return requests.request(
        method, f"{sandbox.url}/v0/bases/{BASE_ID}/webhooks{path}", headers=headers, timeout=10, **kwargs
    )


def _project(api: Api, name: str, phase: str | None = None) -> str:
    fields = {PROJECT_NAME: name, **({PROJECT_PHASE: phase} if phase else {})}
    return api.table(BASE_ID, PROJECTS).create(fields, use_field_ids=True)["id"]


def _payloads(api: Api, webhook_id: str, cursor: int = 1) -> list[WebhookPayload]:
    return list(api.base(BASE_ID).webhook(webhook_id).payloads(cursor))


def _record_changes(payload: WebhookPayload, table_id: str = TASKS) -> WebhookPayload.TableChanged:
    return payload.changed_tables_by_id[table_id]


# ------------------------------------------------------------------------------------------------ management


def test_create_list_refresh_and_delete_through_pyairtable(api: Api, sandbox: Sandbox, clock: Clock) -> None:
    base = api.base(BASE_ID)
    created = base.add_webhook(NOWHERE, TABLE_DATA)

    assert created.id.startswith("ach") and len(created.id) == 17 and created.id.isalnum()
    assert len(base64.b64decode(created.mac_secret_base64)) >= 16
    expected_expiry = datetime.fromtimestamp(clock.time(), tz=UTC) + timedelta(days=7)
    assert abs((created.expiration_time - expected_expiry).total_seconds()) < 5

    [listed] = base.webhooks()
    assert listed.id == created.id
    assert listed.is_hook_enabled and listed.are_notifications_enabled
    assert listed.cursor_for_next_payload == 1
    assert listed.notification_url == NOWHERE
    assert listed.specification.options.filters.data_types == ["tableData"]
    raw = _raw(sandbox, "GET", "").json()["webhooks"][0]
    assert set(raw) == SAMPLE_WEBHOOK_KEYS
    assert raw["lastNotificationResult"] is None and raw["lastSuccessfulNotificationTime"] is None

    clock.advance(3 * 24 * 3600)
    listed.extend_expiration()
    # pyairtable keeps the refresh response's raw string here
    refreshed = datetime.fromisoformat(str(listed.expiration_time))
    assert abs((refreshed - expected_expiry).total_seconds() - 3 * 24 * 3600) < 5

    listed.delete()
    assert base.webhooks() == []
    with pytest.raises(requests.HTTPError) as missing:
        listed.delete()
    assert missing.value.response.status_code == 404


def test_hook_without_notification_url_has_notifications_off(api: Api, sandbox: Sandbox) -> None:
    response = _raw(sandbox, "POST", "", json={"specification": TABLE_DATA})
    assert response.status_code == 200
    [listed] = _raw(sandbox, "GET", "").json()["webhooks"]
    assert listed["notificationUrl"] is None and listed["areNotificationsEnabled"] is False


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"specification": {"options": {"filters": {}}}}, "dataTypes"),
        ({"specification": {"options": {"filters": {"dataTypes": ["records"]}}}}, "dataTypes"),
        ({"specification": _spec({"recordChangeScope": _id("tbl", "Nope")})}, "recordChangeScope"),
        ({"specification": _spec({"changeTypes": ["rename"]})}, "changeTypes"),
        ({"specification": _spec({"watchDataInFieldIds": [_id("fld", "Nope")]})}, "watchDataInFieldIds"),
        ({"notificationUrl": "ftp://example.com", "specification": TABLE_DATA}, "notificationUrl"),
    ],
)
def test_create_rejects_a_bad_specification(sandbox: Sandbox, body: dict[str, Any], fragment: str) -> None:
    response = _raw(sandbox, "POST", "", json=body)
    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]
    assert _raw(sandbox, "GET", "").json() == {"webhooks": []}


def test_a_base_holds_at_most_ten_webhooks(api: Api) -> None:
    base = api.base(BASE_ID)
    for _ in range(10):
        base.add_webhook(NOWHERE, TABLE_DATA)
    with pytest.raises(requests.HTTPError) as refused:
        base.add_webhook(NOWHERE, TABLE_DATA)
    assert refused.value.response.status_code == 422
    assert refused.value.response.json()["error"]["type"] == "TOO_MANY_WEBHOOKS"


def test_unknown_webhook_and_unknown_base(sandbox: Sandbox) -> None:
    unknown = _id("ach", "Missing")
    assert _raw(sandbox, "GET", f"/{unknown}/payloads").status_code == 404
    assert _raw(sandbox, "POST", f"/{unknown}/refresh").status_code == 404
    assert _raw(sandbox, "POST", f"/{unknown}/enableNotifications", json={"enable": True}).status_code == 404
    other_base = requests.get(
        f"{sandbox.url}/v0/bases/{_id('app', 'Missing')}/webhooks",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert other_base.status_code == 403


# ------------------------------------------------------------------------------------------------ payloads


def test_create_update_delete_produce_one_payload_each(api: Api, sandbox: Sandbox) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec())
    tasks = api.table(BASE_ID, TASKS)
    record = tasks.create({"Name": "Write tests", "Status": "Todo"})
    tasks.update(record["id"], {"Notes": "with pyairtable"})
    tasks.delete(record["id"])

    payloads = _payloads(api, hook.id)
    assert [p.cursor for p in payloads] == [1, 2, 3]
    created, changed, destroyed = (_record_changes(p) for p in payloads)
    assert created.created_records_by_id[record["id"]].cell_values_by_field_id == {
        TASK_NAME: "Write tests",
        TASK_STATUS: STATUS_CHOICES[0],
    }
    current = changed.changed_records_by_id[record["id"]].current
    assert current.cell_values_by_field_id == {TASK_NOTES: "with pyairtable"}
    assert destroyed.destroyed_record_ids == [record["id"]]
    numbers = [p.base_transaction_number for p in payloads]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert all(p.action_metadata.source == "publicApi" for p in payloads)
    assert payloads[0].action_metadata.source_metadata["user"]["permissionLevel"] == "create"

    raw = _raw(sandbox, "GET", f"/{hook.id}/payloads").json()["payloads"]
    assert all(set(p) == SAMPLE_PAYLOAD_KEYS | {"changedTablesById"} for p in raw)
    # only keys with content: a creation has no changedRecordsById or destroyedRecordIds
    assert set(raw[0]["changedTablesById"][TASKS]) == {"createdRecordsById"}
    assert set(raw[1]["changedTablesById"][TASKS]["changedRecordsById"][record["id"]]) == {"current"}
    assert api.base(BASE_ID).webhook(hook.id).cursor_for_next_payload == 4


def test_cells_are_converted_to_the_webhook_format(api: Api) -> None:
    hook = api.base(BASE_ID).add_webhook(
        NOWHERE, _spec(includes={"includePreviousCellValues": True, "includeCellValuesInFieldIds": [TASK_NAME]})
    )
    project_id = _project(api, "Launch", "Build")
    tasks = api.table(BASE_ID, TASKS)
    record = tasks.create(
        {
            "Name": "Ship",
            "Status": "Todo",
            "Tags": ["urgent", "later"],
            "Project": [project_id],
            "Owner": {"email": "staff@sandbox.local"},
        }
    )
    tasks.update(record["id"], {"Status": "Doing", "Tags": []})

    project_payload, created_payload, changed_payload = _payloads(api, hook.id)
    cells = _record_changes(created_payload).created_records_by_id[record["id"]].cell_values_by_field_id
    assert cells[TASK_STATUS] == {"id": STATUS_CHOICES[0]["id"], "name": "Todo", "color": "redLight2"}
    assert cells[TASK_TAGS] == TAG_CHOICES
    assert cells[TASK_PROJECT] == [{"id": project_id, "name": "Launch"}]
    assert cells[TASK_PHASE] == {
        "valuesByLinkedRecordId": {project_id: [PHASE_CHOICES[0]]},
        "linkedRecordIds": [project_id],
    }
    assert cells[TASK_OWNER]["email"] == "staff@sandbox.local" and "permissionLevel" in cells[TASK_OWNER]

    # the two-way link changed the project in the same transaction, with its V2 link back to the task
    inverse = _record_changes(created_payload, PROJECTS).changed_records_by_id[project_id]
    assert inverse.current.cell_values_by_field_id == {PROJECT_TASKS: [{"id": record["id"], "name": "Ship"}]}

    change = _record_changes(changed_payload).changed_records_by_id[record["id"]]
    assert change.current.cell_values_by_field_id == {TASK_STATUS: STATUS_CHOICES[1], TASK_TAGS: None}
    assert change.previous.cell_values_by_field_id == {TASK_STATUS: STATUS_CHOICES[0], TASK_TAGS: TAG_CHOICES}
    assert change.unchanged.cell_values_by_field_id == {TASK_NAME: "Ship"}
    assert _record_changes(project_payload, PROJECTS).created_records_by_id[project_id]


def test_previous_and_unchanged_only_when_asked(api: Api) -> None:
    plain = api.base(BASE_ID).add_webhook(NOWHERE, _spec())
    everything = api.base(BASE_ID).add_webhook(NOWHERE, _spec(includes={"includeCellValuesInFieldIds": "all"}))
    tasks = api.table(BASE_ID, TASKS)
    record = tasks.create({"Name": "A", "Notes": "first"})
    tasks.update(record["id"], {"Notes": "second"})

    plain_change = _record_changes(_payloads(api, plain.id)[1]).changed_records_by_id[record["id"]]
    assert plain_change.previous is None and plain_change.unchanged is None
    full_change = _record_changes(_payloads(api, everything.id)[1]).changed_records_by_id[record["id"]]
    assert full_change.previous is None
    assert full_change.unchanged.cell_values_by_field_id == {TASK_NAME: "A"}


def test_filters_choose_which_changes_make_payloads(api: Api, sandbox: Sandbox) -> None:
    base = api.base(BASE_ID)
    projects_only = base.add_webhook(NOWHERE, _spec({"recordChangeScope": PROJECTS}))
    removals_only = base.add_webhook(NOWHERE, _spec({"changeTypes": ["remove"]}))
    ui_only = base.add_webhook(NOWHERE, _spec({"fromSources": ["client"]}))
    notes_watch = base.add_webhook(NOWHERE, _spec({"watchDataInFieldIds": [TASK_NOTES]}))
    tasks = api.table(BASE_ID, TASKS)

    record = tasks.create({"Name": "filtered"})  # add, publicApi
    tasks.update(record["id"], {"Name": "renamed"})  # update of an unwatched field
    tasks.update(record["id"], {"Notes": "watched"})  # update of the watched field
    sandbox.store.update(BASE_ID, TASKS, [{"id": record["id"], "fields": {"Name": "by staff"}}], actor=UI_ACTOR)
    tasks.delete(record["id"])  # remove, publicApi

    assert _payloads(api, projects_only.id) == []
    [removal] = _payloads(api, removals_only.id)
    assert _record_changes(removal).destroyed_record_ids == [record["id"]]
    assert not _record_changes(removal).created_records_by_id
    [by_staff] = _payloads(api, ui_only.id)
    assert by_staff.action_metadata.source == "client"
    assert by_staff.action_metadata.source_metadata["user"]["email"] == "staff@sandbox.local"
    watched = _payloads(api, notes_watch.id)
    changed = [p for p in watched if _record_changes(p).changed_records_by_id]
    assert [
        list(_record_changes(p).changed_records_by_id[record["id"]].current.cell_values_by_field_id) for p in changed
    ] == [[TASK_NOTES]]
    assert len(watched) == 3  # the creation and the deletion still count


def test_cursor_limit_and_might_have_more(api: Api, sandbox: Sandbox) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec())
    tasks = api.table(BASE_ID, TASKS)
    for index in range(5):
        tasks.create({"Name": f"task {index}"})

    first = _raw(sandbox, "GET", f"/{hook.id}/payloads", params={"limit": 2}).json()
    assert (first["cursor"], first["mightHaveMore"], len(first["payloads"])) == (3, True, 2)
    rest = _raw(sandbox, "GET", f"/{hook.id}/payloads", params={"cursor": 3, "limit": 50}).json()
    assert (rest["cursor"], rest["mightHaveMore"], len(rest["payloads"])) == (6, False, 3)
    names = [
        next(iter(p["changedTablesById"][TASKS]["createdRecordsById"].values()))["cellValuesByFieldId"][TASK_NAME]
        for p in first["payloads"] + rest["payloads"]
    ]
    assert names == [f"task {index}" for index in range(5)]
    caught_up = _raw(sandbox, "GET", f"/{hook.id}/payloads", params={"cursor": 6}).json()
    assert caught_up == {"cursor": 6, "mightHaveMore": False, "payloads": []}
    assert _raw(sandbox, "GET", f"/{hook.id}/payloads", params={"cursor": 0}).status_code == 422

    # pyairtable resumes from a stored cursor and numbers what it yields
    assert [p.cursor for p in _payloads(api, hook.id, cursor=4)] == [4, 5]


def test_a_big_transaction_is_split_across_payloads(api: Api, sandbox: Sandbox) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec())
    created = [
        CreatedRecord(_id("rec", f"Bulk{index:03d}"), "2024-01-02T03:04:05.000Z", {TASK_NAME: f"bulk {index}"})
        for index in range(250)
    ]
    tx = Transaction(
        BASE_ID,
        99,
        "2024-01-02T03:04:05.678Z",
        "client",
        {"id": "usrSandboxUi00001"},
        [TableChanges(TASKS, created=created)],
    )
    sandbox.webhooks.on_transaction(tx)

    payloads = _payloads(api, hook.id)
    assert [len(_record_changes(p).created_records_by_id) for p in payloads] == [100, 100, 50]
    assert {(p.base_transaction_number, p.timestamp, p.action_metadata.source) for p in payloads} == {
        (99, datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "client")
    }
    received = [rec for p in payloads for rec in _record_changes(p).created_records_by_id]
    assert received == [record.record_id for record in created]


# ------------------------------------------------------------------------------------------------ expiry


def test_an_expired_hook_stops_producing_and_disappears_a_week_later(api: Api, sandbox: Sandbox, clock: Clock) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec())
    tasks = api.table(BASE_ID, TASKS)
    clock.advance(WEEK - 3600)
    tasks.create({"Name": "before expiry"})
    clock.advance(3600 + 60)

    [listed] = api.base(BASE_ID).webhooks()
    assert listed.is_hook_enabled is False
    tasks.create({"Name": "after expiry"})
    assert len(_payloads(api, hook.id)) == 1  # still readable, and nothing new
    assert api.base(BASE_ID).webhook(hook.id).cursor_for_next_payload == 2
    with pytest.raises(requests.HTTPError) as refused:
        listed.extend_expiration()
    assert refused.value.response.status_code == 422

    clock.advance(WEEK)
    assert api.base(BASE_ID).webhooks() == []
    assert _raw(sandbox, "GET", f"/{hook.id}/payloads").status_code == 404


def test_listing_payloads_keeps_a_hook_alive_and_old_payloads_are_dropped(
    api: Api, sandbox: Sandbox, clock: Clock
) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec())
    tasks = api.table(BASE_ID, TASKS)
    tasks.create({"Name": "old"})
    for _ in range(2):  # two 5-day gaps: alive only because listing payloads extends the expiry
        clock.advance(5 * 24 * 3600)
        listing = _raw(sandbox, "GET", f"/{hook.id}/payloads").json()
    assert listing["payloads"] == []  # the 10-day-old payload is gone
    [listed] = api.base(BASE_ID).webhooks()
    assert listed.is_hook_enabled
    assert abs((listed.expiration_time - datetime.fromtimestamp(clock.time() + WEEK, tz=UTC)).total_seconds()) < 5

    assert listing["cursor"] == 1  # nothing returned: the response cursor is the request's

    tasks.create({"Name": "new"})
    fresh = _raw(sandbox, "GET", f"/{hook.id}/payloads").json()
    assert len(fresh["payloads"]) == 1
    assert fresh["cursor"] == 3  # the new payload is number 2: numbering never restarts


# ------------------------------------------------------------------------------------------------ notifications


class Receiver:
    """A local notification endpoint that records each ping and answers with a status the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.pings: list[tuple[float, str, dict[str, str]]] = []  # (monotonic time, body, headers)
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode("ascii")
                with receiver.arrived:
                    receiver.pings.append((time.monotonic(), body, dict(self.headers)))
                    receiver.arrived.notify_all()
                time.sleep(receiver.delay)
                with contextlib.suppress(OSError):  # a sender that timed out has hung up
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/airtable"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0, *, tick: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.pings) < count:
                assert time.monotonic() < deadline, f"expected {count} pings, got {len(self.pings)}"
                self.arrived.wait(0.02)
                if tick:
                    tick()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_pings_are_signed_and_verify_with_pyairtable(api: Api, receiver: Receiver) -> None:
    created = api.base(BASE_ID).add_webhook(receiver.url, _spec())
    api.table(BASE_ID, TASKS).create({"Name": "ping me"})
    receiver.wait_for(1)

    _, body, headers = receiver.pings[0]
    assert headers["Content-Type"] == "application/json"
    assert "," in body and ", " not in body and ": " not in body  # compact JSON, hashed byte for byte
    notification = WebhookNotification.from_request(body, headers["X-Airtable-Content-MAC"], created.mac_secret_base64)
    assert (notification.base.id, notification.webhook.id) == (BASE_ID, created.id)
    assert set(json.loads(body)) == SAMPLE_NOTIFICATION_KEYS
    tampered = body.replace(created.id, _id("ach", "Forged"))
    with pytest.raises(ValueError, match="failed validation"):
        WebhookNotification.from_request(tampered, headers["X-Airtable-Content-MAC"], created.mac_secret_base64)

    deadline = time.monotonic() + 30  # a deadline: a ping thread starved at load 10 takes seconds
    while (hook := api.base(BASE_ID).webhook(created.id)).last_notification_result is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert hook.last_notification_result.success and hook.last_notification_result.retry_number == 0
    assert hook.last_successful_notification_time == hook.last_notification_result.completion_timestamp


def test_disabled_notifications_send_nothing_until_enabled_again(
    api: Api, sandbox: Sandbox, receiver: Receiver
) -> None:
    created = api.base(BASE_ID).add_webhook(receiver.url, _spec())
    hook = api.base(BASE_ID).webhook(created.id)
    hook.disable_notifications()
    assert api.base(BASE_ID).webhook(created.id).are_notifications_enabled is False
    tasks = api.table(BASE_ID, TASKS)
    tasks.create({"Name": "quiet"})
    assert not sandbox.webhooks.ping_pending(BASE_ID, created.id)  # decided with the change: no ping, ever
    assert receiver.pings == []
    assert len(_payloads(api, created.id)) == 1  # payloads keep coming while pings are off

    hook.enable_notifications()
    tasks.create({"Name": "loud"})
    receiver.wait_for(1)
    refused = _raw(sandbox, "POST", f"/{created.id}/enableNotifications", json={"enable": "yes"})
    assert refused.status_code == 422


def test_failed_pings_back_off_then_notifications_are_disabled(
    start_sandbox: Callable[..., Sandbox], receiver: Receiver, clock: Clock
) -> None:
    sandbox = start_sandbox(notification_retry_base_seconds=0.05)
    api = Api(TOKEN, endpoint_url=sandbox.url)
    receiver.status = 500
    created = api.base(BASE_ID).add_webhook(receiver.url, _spec())
    tasks = api.table(BASE_ID, TASKS)
    tasks.create({"Name": "fails"})

    receiver.wait_for(4)  # first try and three retries at 0.05, 0.1 and 0.2 s: backoff doubles
    gaps = [later[0] - earlier[0] for earlier, later in zip(receiver.pings, receiver.pings[1:4], strict=False)]
    assert gaps[2] > gaps[0] and gaps[2] >= 0.15
    failure = api.base(BASE_ID).webhook(created.id).last_notification_result
    assert failure.success is False and failure.will_be_retried and failure.retry_number >= 1
    assert "500" in failure.error.message

    receiver.wait_for(14, timeout=15, tick=lambda: clock.advance(30))  # the last retries are minutes apart
    hook = api.base(BASE_ID).webhook(created.id)
    deadline = time.monotonic() + 30  # a deadline: a ping thread starved at load 10 takes seconds
    while hook.are_notifications_enabled:
        assert time.monotonic() < deadline
        time.sleep(0.02)
        hook = api.base(BASE_ID).webhook(created.id)
    assert len(receiver.pings) == 14  # 1 try + 13 retries, then no more
    assert hook.last_notification_result.retry_number == 13
    assert hook.last_notification_result.will_be_retried is False
    assert hook.last_successful_notification_time is None
    # one ping at a time: every try carried the same notification
    assert len({body for _, body, _ in receiver.pings}) == 1

    receiver.status = 204
    tasks.create({"Name": "still recorded"})
    assert len(_payloads(api, created.id)) == 2
    hook.enable_notifications()
    tasks.create({"Name": "heard again"})
    receiver.wait_for(15)


def test_a_slow_receiver_counts_as_a_failed_delivery(start_sandbox: Callable[..., Sandbox], receiver: Receiver) -> None:
    sandbox = start_sandbox(notification_timeout_seconds=0.2, max_notification_retries=0)
    api = Api(TOKEN, endpoint_url=sandbox.url)
    receiver.delay = 0.5
    created = api.base(BASE_ID).add_webhook(receiver.url, _spec())
    api.table(BASE_ID, TASKS).create({"Name": "slow"})
    receiver.wait_for(1)
    deadline = time.monotonic() + 30  # a deadline: a ping thread starved at load 10 takes seconds
    while (hook := api.base(BASE_ID).webhook(created.id)).are_notifications_enabled:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    result = hook.last_notification_result
    assert result.success is False and result.will_be_retried is False and result.retry_number == 0
    assert "timed out" in result.error.message
    assert len(receiver.pings) == 1  # no retries were allowed


def test_dropped_pings_leave_payloads_to_catch_up_on(start_sandbox: Callable[..., Sandbox], receiver: Receiver) -> None:
    sandbox = start_sandbox(drop_notification_ratio=1.0)
    api = Api(TOKEN, endpoint_url=sandbox.url)
    created = api.base(BASE_ID).add_webhook(receiver.url, _spec())
    api.table(BASE_ID, TASKS).create({"Name": "lost ping"})
    assert not sandbox.webhooks.ping_pending(BASE_ID, created.id)  # dropped with the change: nothing will be sent
    assert receiver.pings == []
    assert len(_payloads(api, created.id)) == 1


def test_the_drop_ratio_changes_at_runtime_through_the_admin_api(
    start_sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    sandbox = start_sandbox(drop_notification_ratio=1.0)
    api = Api(TOKEN, endpoint_url=sandbox.url)
    created = api.base(BASE_ID).add_webhook(receiver.url, _spec())
    tasks = api.table(BASE_ID, TASKS)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def configure(changes: dict[str, Any]) -> requests.Response:
        return requests.post(f"{sandbox.url}/_sandbox/config", json=changes, headers=headers, timeout=10)

    tasks.create({"Name": "dropped"})
    assert not sandbox.webhooks.ping_pending(BASE_ID, created.id)
    assert receiver.pings == []

    # A bad ratio refuses the whole request: the valid latency change next to it is not applied either.
    refused = configure({"drop_notification_ratio": 1.5, "latency_ms": 5})
    assert refused.status_code == 422 and "drop_notification_ratio" in refused.json()["error"]["message"]
    assert configure({"drop_notification_ratio": True}).status_code == 422
    assert sandbox.limits.config.latency_ms == 0 and sandbox.webhooks.drop_notification_ratio == 1.0

    answered = configure({"drop_notification_ratio": 0})
    assert answered.status_code == 200
    assert answered.json()["drop_notification_ratio"] == 0.0 and answered.json()["latency_ms"] == 0
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", headers=headers, timeout=10).json()
    assert stats["config"]["drop_notification_ratio"] == 0.0
    assert sandbox.stats()["config"]["drop_notification_ratio"] == 0.0
    tasks.create({"Name": "heard"})
    receiver.wait_for(1)

    assert configure({"drop_notification_ratio": 1, "latency_ms": 0}).json()["drop_notification_ratio"] == 1.0
    wait_until(lambda: not sandbox.webhooks.ping_pending(BASE_ID, created.id), timeout=30, what="the ping to settle")
    tasks.create({"Name": "dropped again"})
    assert not sandbox.webhooks.ping_pending(BASE_ID, created.id)
    assert len(receiver.pings) == 1
    assert len(_payloads(api, created.id)) == 3  # dropping a ping never drops a payload

    with pytest.raises(ValueError, match="between 0 and 1"):
        sandbox.webhooks.set_drop_notification_ratio(-0.1)


# ------------------------------------------------------------------------------------------------ demo base

V2_SHAPES: dict[str, Callable[[Any], bool]] = {
    "singleSelect": lambda v: isinstance(v, dict) and {"id", "name"} <= set(v),
    "multipleSelects": lambda v: all(isinstance(c, dict) and {"id", "name"} <= set(c) for c in v),
    "multipleRecordLinks": lambda v: all(set(link) == {"id", "name"} and isinstance(link["name"], str) for link in v),
    "multipleLookupValues": lambda v: (
        set(v) == {"valuesByLinkedRecordId", "linkedRecordIds"}
        and set(v["valuesByLinkedRecordId"]) == set(v["linkedRecordIds"])
    ),
    "singleCollaborator": lambda v: "permissionLevel" in v,
    "createdBy": lambda v: "permissionLevel" in v,
    "lastModifiedBy": lambda v: "permissionLevel" in v,
}


def test_every_demo_table_converts_to_webhook_cells(start_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = start_sandbox()
    base_id = sandbox.load_demo(60)
    api = Api(TOKEN, endpoint_url=sandbox.url)
    hook = api.base(base_id).add_webhook(None, _spec(includes={"includeCellValuesInFieldIds": "all"}))
    fields = {f["id"]: f for table in demo.demo_schema() for f in table["fields"]}
    for table in demo.demo_schema():
        text = next(f for f in table["fields"] if f["type"] in ("singleLineText", "multilineText"))
        record = api.table(base_id, table["id"]).first()
        api.table(base_id, table["id"]).update(record["id"], {text["name"]: "edited for the webhook test"})

    payloads = list(api.base(base_id).webhook(hook.id).payloads())
    assert len(payloads) == len(demo.demo_schema())
    checked: set[str] = set()
    for payload in payloads:
        for changes in payload.changed_tables_by_id.values():
            for change in changes.changed_records_by_id.values():
                cells = {**change.unchanged.cell_values_by_field_id, **change.current.cell_values_by_field_id}
                for field_id, value in cells.items():
                    field_type = fields[field_id]["type"]
                    if field_type in V2_SHAPES and value is not None:
                        assert V2_SHAPES[field_type](value), (field_type, value)
                        checked.add(field_type)
    assert checked == set(V2_SHAPES)
