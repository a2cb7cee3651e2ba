"""Schema changes reach webhooks as Airtable documents them, and a hook whose watched field or table is
destroyed turns invalid. Schema writes go through pyairtable's own metadata API calls where pyairtable has
them, and through the sandbox's admin routes for what Airtable's Web API cannot do (delete, change a type).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pyairtable import Api
from pyairtable.models.webhook import WebhookPayload

from airtable_pg_tests.sandbox import test_sandbox_webhooks as webhook_tests
from airtable_pg_tests.sandbox.test_sandbox_webhooks import (
    BASE_ID,
    NOWHERE,
    PROJECTS,
    TASK_NOTES,
    TASK_STATUS,
    TASKS,
    TOKEN,
    _id,
)
from airtable_sandbox.server import Sandbox

# The webhook tests' fixtures (a sandbox with their tasks/projects base), shared rather than copied.
api = webhook_tests.api
clock = webhook_tests.clock
sandbox = webhook_tests.sandbox
start_sandbox = webhook_tests.start_sandbox


def _hook(api: Api, data_types: list[str], filters: dict[str, Any] | None = None, **includes: Any) -> str:
    options: dict[str, Any] = {"filters": {"dataTypes": data_types, **(filters or {})}}
    if includes:
        options["includes"] = includes
    return api.base(BASE_ID).add_webhook(NOWHERE, {"options": options}).id


def _payloads(api: Api, webhook_id: str) -> list[WebhookPayload]:
    return list(api.base(BASE_ID).webhook(webhook_id).payloads())


def _raw_payloads(sandbox: Sandbox, webhook_id: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{sandbox.url}/v0/bases/{BASE_ID}/webhooks/{webhook_id}/payloads",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["payloads"]


def _admin(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = requests.request(
        method, f"{sandbox.url}/_sandbox/bases/{BASE_ID}/{path}", headers=headers, timeout=10, **kwargs
    )
    response.raise_for_status()
    return response


def _hook_enabled(api: Api, webhook_id: str) -> bool:
    return api.base(BASE_ID).webhook(webhook_id).is_hook_enabled


def test_fields_created_renamed_and_destroyed_reach_table_fields_hooks(api: Api, sandbox: Sandbox) -> None:
    fields_hook = _hook(api, ["tableFields"], includePreviousFieldDefinitions=True)
    data_hook = _hook(api, ["tableData"])
    table = api.table(BASE_ID, TASKS)

    created = table.create_field("Estimate", "number", options={"precision": 1})
    field = table.schema(force=True).field(created.id)
    field.name = "Estimate (h)"
    field.save()
    _admin(sandbox, "DELETE", f"tables/{TASKS}/fields/{created.id}")

    added, renamed, destroyed = _payloads(api, fields_hook)
    assert added.action_metadata.source == "publicApi"
    assert added.changed_tables_by_id[TASKS].created_fields_by_id[created.id].model_dump() == {
        "name": "Estimate",
        "type": "number",
    }
    change = renamed.changed_tables_by_id[TASKS].changed_fields_by_id[created.id]
    assert (change.current.name, change.previous.name) == ("Estimate (h)", "Estimate")
    assert destroyed.changed_tables_by_id[TASKS].destroyed_field_ids == [created.id]
    assert destroyed.action_metadata.source == "client"
    assert _payloads(api, data_hook) == []  # a tableData hook hears nothing of schema changes


def test_previous_field_definitions_only_when_asked(api: Api, sandbox: Sandbox) -> None:
    hook = _hook(api, ["tableFields"])
    _admin(sandbox, "PATCH", f"tables/{TASKS}/fields/{TASK_NOTES}", json={"type": "singleLineText"})

    [payload] = _raw_payloads(sandbox, hook)
    assert payload["changedTablesById"][TASKS] == {
        "changedFieldsById": {TASK_NOTES: {"current": {"type": "singleLineText"}}}
    }


def test_a_type_change_keeps_convertible_values(api: Api, sandbox: Sandbox) -> None:
    table = api.table(BASE_ID, TASKS)
    kept = table.create({"Notes": "42"})
    dropped = table.create({"Notes": "many"})
    _admin(sandbox, "PATCH", f"tables/{TASKS}/fields/{TASK_NOTES}", json={"type": "number"})

    assert table.get(kept["id"])["fields"] == {"Notes": 42}
    assert table.get(dropped["id"])["fields"] == {}


def test_table_metadata_changes_reach_table_metadata_hooks(api: Api, sandbox: Sandbox) -> None:
    metadata_hook = _hook(api, ["tableMetadata"])
    fields_hook = _hook(api, ["tableFields"])
    schema = api.table(BASE_ID, TASKS).schema()
    schema.name = "todo"
    schema.description = "Everything to do"
    schema.save()

    [payload] = _payloads(api, metadata_hook)
    metadata = payload.changed_tables_by_id[TASKS].changed_metadata
    assert metadata.current.model_dump() == {"name": "todo", "description": "Everything to do"}
    assert metadata.previous.model_dump() == {"name": "tasks", "description": None}
    assert _payloads(api, fields_hook) == []


def test_created_and_destroyed_tables_have_no_changed_tables(api: Api, sandbox: Sandbox) -> None:
    hook = _hook(api, ["tableData", "tableFields", "tableMetadata"])
    scoped = _hook(api, ["tableData"], {"recordChangeScope": PROJECTS})
    created = api.base(BASE_ID).create_table("Sprints", [{"name": "Name", "type": "singleLineText"}], "Two weeks")
    _admin(sandbox, "DELETE", f"tables/{created.id}")

    made, gone = _raw_payloads(sandbox, hook)
    assert "changedTablesById" not in made and "changedTablesById" not in gone
    [(table_id, table)] = made["createdTablesById"].items()
    assert table_id == created.id
    assert table["metadata"] == {"name": "Sprints", "description": "Two weeks"}
    assert list(table["fieldsById"].values()) == [{"name": "Name", "type": "singleLineText"}]
    assert gone["destroyedTableIds"] == [created.id]
    parsed = [WebhookPayload.model_validate(body) for body in (made, gone)]
    assert parsed[0].created_tables_by_id[created.id].metadata.name == "Sprints"
    assert parsed[1].destroyed_table_ids == [created.id]
    assert _raw_payloads(sandbox, scoped) == []  # another table's life is outside a scoped hook


def test_filters_scope_and_change_types_apply_to_schema_changes(api: Api, sandbox: Sandbox) -> None:
    projects_only = _hook(api, ["tableFields"], {"recordChangeScope": PROJECTS})
    removals_only = _hook(api, ["tableFields"], {"changeTypes": ["remove"]})
    other_fields = _hook(api, ["tableFields"], {"watchSchemasOfFieldIds": [TASK_STATUS]})
    added = api.table(BASE_ID, TASKS).create_field("Points", "number", options={"precision": 0})
    _admin(sandbox, "DELETE", f"tables/{TASKS}/fields/{added.id}")

    assert _payloads(api, projects_only) == []
    [removal] = _payloads(api, removals_only)
    assert removal.changed_tables_by_id[TASKS].destroyed_field_ids == [added.id]
    assert _payloads(api, other_fields) == []


def test_destroying_a_watched_field_invalidates_the_hook(api: Api, sandbox: Sandbox) -> None:
    watching = _hook(api, ["tableData"], {"watchDataInFieldIds": [TASK_NOTES]})
    bystander = _hook(api, ["tableData"])
    including = _hook(api, ["tableData"], includeCellValuesInFieldIds=[TASK_NOTES])
    _admin(sandbox, "DELETE", f"tables/{TASKS}/fields/{TASK_NOTES}")

    [error] = _raw_payloads(sandbox, watching)
    assert error["error"] is True and error["code"] == "INVALID_HOOK"
    assert error["changedTablesById"] == {TASKS: {"destroyedFieldIds": [TASK_NOTES]}}
    parsed = WebhookPayload.model_validate(error)
    assert parsed.error and parsed.error_code == "INVALID_HOOK"
    assert not _hook_enabled(api, watching)
    # Nothing more is recorded for the invalid hook, and it cannot be refreshed back to life.
    api.table(BASE_ID, TASKS).create({"Name": "after"})
    assert len(_raw_payloads(sandbox, watching)) == 1
    with pytest.raises(requests.HTTPError):
        api.base(BASE_ID).webhook(watching).extend_expiration()
    # includeCellValuesInFieldIds naming the field is silently ignored (API.md §6.1); other hooks carry on.
    assert _hook_enabled(api, bystander) and _hook_enabled(api, including)
    assert [p.error for p in _payloads(api, including)] == [None]


def test_destroying_the_scoped_table_invalidates_the_hook(api: Api, sandbox: Sandbox) -> None:
    scoped = _hook(api, ["tableData"], {"recordChangeScope": PROJECTS})
    _admin(sandbox, "DELETE", f"tables/{PROJECTS}")

    [error] = _payloads(api, scoped)
    assert error.error and error.error_code == "INVALID_HOOK" and error.destroyed_table_ids == [PROJECTS]
    assert not _hook_enabled(api, scoped)


def test_metadata_writes_validate_like_airtable(api: Api, sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/v0/meta/bases/{BASE_ID}/tables/{TASKS}/fields"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    duplicate = requests.post(url, json={"name": "Name", "type": "number"}, headers=headers, timeout=10)
    private = requests.post(url, json={"name": "X", "type": "rollup", "_sandbox": {}}, headers=headers, timeout=10)
    type_change = requests.patch(f"{url}/{TASK_NOTES}", json={"type": "number"}, headers=headers, timeout=10)
    unknown_base = requests.post(
        f"{sandbox.url}/v0/meta/bases/{_id('app', 'Nope')}/tables", json={"name": "T"}, headers=headers, timeout=10
    )
    assert [r.status_code for r in (duplicate, private, type_change, unknown_base)] == [422, 422, 422, 403]
    assert [f.name for f in api.table(BASE_ID, TASKS).schema(force=True).fields][-1] == "Owner"
