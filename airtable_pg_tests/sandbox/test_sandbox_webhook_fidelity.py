"""Webhook details a consumer meets in production: non-user sources, base-wide transaction numbers,
``previous`` links as they were, lookup changes in other records (a setting) and delayed pings."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import requests
from pyairtable import Api
from pyairtable.models.webhook import WebhookPayload

from airtable_pg_tests.sandbox import test_sandbox_webhooks as webhook_tests
from airtable_pg_tests.sandbox.test_sandbox_webhooks import (
    BASE_ID,
    NOWHERE,
    PROJECT_NAME,
    PROJECT_PHASE,
    PROJECT_TASKS,
    PROJECTS,
    TASK_PHASE,
    TASK_PROJECT,
    TASKS,
    TOKEN,
    Receiver,
    _project,
    _spec,
)
from airtable_sandbox.main import build_parser
from airtable_sandbox.server import Sandbox

# The webhook tests' fixtures (a sandbox with their tasks/projects base), shared rather than copied.
api = webhook_tests.api
clock = webhook_tests.clock
receiver = webhook_tests.receiver
sandbox = webhook_tests.sandbox
start_sandbox = webhook_tests.start_sandbox


def _admin(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return requests.request(method, f"{sandbox.url}/_sandbox/{path}", headers=headers, timeout=10, **kwargs)


def _records_path(table_id: str = TASKS) -> str:
    return f"bases/{BASE_ID}/tables/{table_id}/records"


def _payloads(api: Api, webhook_id: str) -> list[WebhookPayload]:
    return list(api.base(BASE_ID).webhook(webhook_id).payloads())


def test_admin_edits_choose_their_source(api: Api, sandbox: Sandbox) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec()).id
    form = _admin(sandbox, "POST", _records_path(), json={"fields": {"Name": "form"}, "source": "formSubmission"})
    automation = {"automationId": "autSandboxTest001"}
    _admin(
        sandbox,
        "PATCH",
        f"{_records_path()}/{form.json()['id']}",
        json={"fields": {"Notes": "by robot"}, "source": "automation", "sourceMetadata": automation},
    )
    _admin(sandbox, "POST", _records_path(), json={"fields": {"Name": "synced"}, "source": "sync"})
    _admin(sandbox, "DELETE", f"{_records_path()}/{form.json()['id']}?source=system")
    _admin(sandbox, "POST", _records_path(), json={"fields": {"Name": "person"}})

    metadata = [payload.action_metadata for payload in _payloads(api, hook)]
    assert [m.source for m in metadata] == ["formSubmission", "automation", "sync", "system", "client"]
    assert set(metadata[0].source_metadata) == {"viewId"} and metadata[0].source_metadata["viewId"].startswith("viw")
    assert metadata[1].source_metadata == automation
    assert metadata[2].source_metadata == {} and metadata[3].source_metadata == {}
    assert metadata[4].source_metadata["user"]["id"] == "usrSandboxUi00001"


def test_a_bad_source_is_refused_and_changes_nothing(api: Api, sandbox: Sandbox) -> None:
    bodies = [
        {"fields": {"Name": "x"}, "source": "telepathy"},
        {"fields": {"Name": "x"}, "source": "sync", "sourceMetadata": {"viewId": "viwX"}},
        {"fields": {"Name": "x"}, "source": "automation", "sourceMetadata": {"viewId": "viwX"}},
    ]
    assert [_admin(sandbox, "POST", _records_path(), json=body).status_code for body in bodies] == [422] * 3
    assert api.table(BASE_ID, TASKS).all() == []


def test_from_sources_filters_on_the_chosen_source(api: Api, sandbox: Sandbox) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec({"fromSources": ["automation"]})).id
    _admin(sandbox, "POST", _records_path(), json={"fields": {"Name": "person"}})
    _admin(sandbox, "POST", _records_path(), json={"fields": {"Name": "robot"}, "source": "automation"})
    assert [p.action_metadata.source for p in _payloads(api, hook)] == ["automation"]


def test_base_transaction_numbers_are_base_wide_large_and_gapped(api: Api, sandbox: Sandbox) -> None:
    first = api.base(BASE_ID).add_webhook(NOWHERE, _spec({"recordChangeScope": TASKS})).id
    second = api.base(BASE_ID).add_webhook(NOWHERE, _spec()).id
    tasks = api.table(BASE_ID, TASKS)
    for index in range(12):
        tasks.create({"Name": f"task {index}"})
        _project(api, f"project {index}")

    scoped = [p.base_transaction_number for p in _payloads(api, first)]
    every = _payloads(api, second)
    numbers = [p.base_transaction_number for p in every]
    assert numbers == sorted(set(numbers)) and set(scoped) < set(numbers)  # one counter for the whole base
    assert min(numbers) >= 100_000
    assert all(p.base_transaction_number != p.cursor for p in every)
    assert any(later - earlier > 1 for earlier, later in itertools.pairwise(numbers))


def test_previous_links_and_lookups_are_as_they_were_before_the_write(api: Api, sandbox: Sandbox) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec(includes={"includePreviousCellValues": True})).id
    project = _project(api, "Old name", "Build")
    task = api.table(BASE_ID, TASKS).create({"Name": "moving", "Project": [project]})
    # One write renames the project, clears its phase and unlinks the task: the task's "previous" must show the
    # project as it was before that write, not as the write left it.
    changes = {PROJECT_NAME: "Renamed", PROJECT_PHASE: None, PROJECT_TASKS: []}
    api.table(BASE_ID, PROJECTS).update(project, changes, use_field_ids=True)

    unlinked = _payloads(api, hook)[-1].changed_tables_by_id[TASKS].changed_records_by_id[task["id"]]
    previous = unlinked.previous.cell_values_by_field_id
    assert previous[TASK_PROJECT] == [{"id": project, "name": "Old name"}]
    assert previous[TASK_PHASE]["linkedRecordIds"] == [project]
    assert [value["name"] for value in previous[TASK_PHASE]["valuesByLinkedRecordId"][project]] == ["Build"]
    assert unlinked.current.cell_values_by_field_id[TASK_PROJECT] is None


def _phase_change_reaches_tasks(api: Api, hook: str) -> bool:
    project = _project(api, "Lookup source")
    api.table(BASE_ID, TASKS).create({"Name": "reads the phase", "Project": [project]})
    api.table(BASE_ID, PROJECTS).update(project, {PROJECT_PHASE: "Build"}, use_field_ids=True)
    return TASKS in _payloads(api, hook)[-1].changed_tables_by_id


def test_lookup_changes_in_other_records_are_not_reported_by_default(api: Api, sandbox: Sandbox) -> None:
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec()).id
    assert not _phase_change_reaches_tasks(api, hook)


def test_lookup_changes_in_other_records_are_a_setting(start_sandbox: Callable[..., Sandbox]) -> None:
    reporting = start_sandbox(report_lookup_changes_in_other_records=True)
    api = Api(TOKEN, endpoint_url=reporting.url)
    hook = api.base(BASE_ID).add_webhook(NOWHERE, _spec()).id
    assert _phase_change_reaches_tasks(api, hook)
    [payload] = [p for p in _payloads(api, hook)[-1:]]
    [(_, change)] = payload.changed_tables_by_id[TASKS].changed_records_by_id.items()
    assert set(change.current.cell_values_by_field_id) == {TASK_PHASE}

    response = _admin(reporting, "POST", "config", json={"report_lookup_changes_in_other_records": False})
    assert response.json()["report_lookup_changes_in_other_records"] is False
    assert not _phase_change_reaches_tasks(api, hook)
    assert _admin(reporting, "POST", "config", json={"report_lookup_changes_in_other_records": 1}).status_code == 422


def test_pings_wait_for_the_notification_delay(start_sandbox: Callable[..., Sandbox], receiver: Receiver) -> None:
    delayed = start_sandbox(notification_delay_ms=2000)
    api = Api(TOKEN, endpoint_url=delayed.url)
    api.base(BASE_ID).add_webhook(receiver.url, _spec())
    started = time.monotonic()
    api.table(BASE_ID, TASKS).create({"Name": "later"})
    answered = time.monotonic()
    receiver.wait_for(1, timeout=10)

    assert answered - started < 1.0  # the write does not wait for the 2 s ping delay
    assert receiver.pings[0][0] - started >= 2.0

    config = _admin(delayed, "POST", "config", json={"notification_delay_ms": 0}).json()
    assert config["notification_delay_ms"] == 0
    before = time.monotonic()
    api.table(BASE_ID, TASKS).create({"Name": "now"})
    receiver.wait_for(2)
    assert receiver.pings[1][0] - before < 1.5  # at once, not after the 2 s delay (headroom for a loaded machine)
    assert _admin(delayed, "POST", "config", json={"notification_delay_ms": -1}).status_code == 422


def test_cli_flags_reach_the_sandbox_options() -> None:
    args = build_parser().parse_args(["--notification-delay-ms", "250", "--report-lookup-changes-in-other-records"])
    assert args.notification_delay_ms == 250 and args.report_lookup_changes_in_other_records is True
    defaults = build_parser().parse_args([])
    assert defaults.notification_delay_ms == 0 and defaults.report_lookup_changes_in_other_records is False
