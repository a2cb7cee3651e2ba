"""airtable.js writes through the API: creates, updates, replaces, upserts and deletes, on an Airtable-authoritative
table (the write goes to Airtable, its answer is in the mirror before airtable.js gets it) and a
Postgres-authoritative one (the mirror row is written and pushed; the answer is Airtable's, under Airtable's id).
Every answer is compared with what Airtable (the sandbox) then holds and with what the API then serves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pyairtable import Api

from airtable_pg.spec import TableSpec, load_spec
from airtable_pg_tests.api.airtable_js import run_airtable_js
from airtable_pg_tests.api.conftest import Served, serve
from airtable_pg_tests.api.test_api_pg_writes import a_user, goal_rows, in_airtable
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.server import Sandbox

JsCall = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def served(sandbox: Sandbox, database_url: str) -> Iterator[Served]:
    yield from serve(sandbox, database_url, load_spec(), [DEMO_BASE_ID])


def airtable_js(node_modules: Path, endpoint: str, token: str) -> JsCall:
    def call(table: str, op: str, **arguments: Any) -> list[dict[str, Any]]:
        [answer] = run_airtable_js(node_modules, endpoint, token, [{"table": table, "op": op, **arguments}])
        return answer.get("records", answer)

    return call


@pytest.fixture
def through_api(served: Served, node_modules: Path) -> JsCall:
    return airtable_js(node_modules, served.api_url, served.issue("airtable.js", [DEMO_BASE_ID], can_write=True))


def served_by_api(served: Served, table: str, record_id: str) -> dict[str, Any]:
    reader = Api(served.issue("reader", [DEMO_BASE_ID]), endpoint_url=served.api_url)
    return reader.table(DEMO_BASE_ID, table).get(record_id)


def gone_everywhere(served: Served, table: str, record_id: str) -> None:
    reader = Api(served.issue("reader", [DEMO_BASE_ID]), endpoint_url=served.api_url)
    for api in (reader, served.airtable()):
        with pytest.raises(requests.HTTPError) as gone:
            api.table(DEMO_BASE_ID, table).get(record_id)
        assert gone.value.response.status_code in (403, 404)


def test_airtable_js_writes_an_airtable_table_through_the_api(
    served: Served, through_api: JsCall, node_modules: Path
) -> None:
    def truth(record_id: str) -> dict[str, Any]:
        return served.airtable().table(DEMO_BASE_ID, "users").get(record_id)

    created = through_api("users", "create", records=[
        {"fields": {"name": "JS Een", "email": "js1@example.nl", "role": "client"}},
        {"fields": {"name": "JS Twee", "email": "js2@example.nl", "active": True}},
    ])  # fmt: skip
    one, two = (record["id"] for record in created)
    assert created == [truth(one), truth(two)] == [served_by_api(served, "users", i) for i in (one, two)]

    [updated] = through_api("users", "update", records=[{"id": one, "fields": {"name": "JS Een bijgewerkt"}}])
    [replaced] = through_api("users", "replace", records=[{"id": two, "fields": {"name": "JS Twee vervangen"}}])
    assert updated == truth(one) == served_by_api(served, "users", one)
    assert updated["fields"]["email"] == "js1@example.nl"  # PATCH keeps the cells it was not given
    assert replaced == truth(two) == served_by_api(served, "users", two) and "email" not in replaced["fields"]

    upserted = through_api(
        "users",
        "update",
        records=[{"fields": {"email": "js1@example.nl", "name": "JS via upsert"}},
                 {"fields": {"email": "js3@example.nl", "name": "JS Drie"}}],
        opts={"performUpsert": {"fieldsToMergeOn": ["email"]}},
    )  # fmt: skip
    assert upserted[0]["id"] == one and upserted[1]["id"] not in (one, two)
    assert upserted == [truth(r["id"]) for r in upserted] == [served_by_api(served, "users", r["id"]) for r in upserted]

    assert through_api("users", "destroy", ids=[two]) == [{"id": two}]
    gone_everywhere(served, "users", two)

    refused = {"records": [{"fields": {"no such field": 1}}]}
    direct = airtable_js(node_modules, served.sandbox.url, served.sandbox.token)
    assert through_api("users", "create", **refused) == direct("users", "create", **refused)
    assert through_api("users", "create", **refused)["status"] == 422


def test_airtable_js_writes_a_postgres_table_through_the_api(served: Served, through_api: JsCall) -> None:
    user = a_user(served)
    created = through_api("personal_goals", "create", records=[
        {"fields": {"title": "JS doel", "user": [user], "target_minutes": 100, "minutes_practiced": 25}},
        {"fields": {"title": "JS tweede doel", "user": [user]}},
    ])  # fmt: skip
    one, two = (record["id"] for record in created)
    assert all(record_id.startswith("rec") for record_id in (one, two))  # Airtable's ids, from the push
    assert created == [in_airtable(served, "personal_goals", i) for i in (one, two)]
    assert created == [served_by_api(served, "personal_goals", i) for i in (one, two)]
    assert created[0]["fields"]["progress"] == 0.25  # Airtable's computed cell, in the answer
    pushed = goal_rows(served, "title like %s", ("JS %",))
    assert sorted(airtable_id for _, airtable_id, _, _ in pushed) == sorted([one, two])

    [updated] = through_api("personal_goals", "update", records=[{"id": one, "fields": {"minutes_practiced": 50}}])
    assert updated == in_airtable(served, "personal_goals", one) == served_by_api(served, "personal_goals", one)
    assert updated["fields"]["progress"] == 0.5 and updated["fields"]["title"] == "JS doel"

    [replaced] = through_api("personal_goals", "replace", records=[{"id": two, "fields": {"title": "JS vervangen"}}])
    assert replaced == in_airtable(served, "personal_goals", two) == served_by_api(served, "personal_goals", two)
    assert "user" not in replaced["fields"]

    upserted = through_api(
        "personal_goals",
        "update",
        records=[{"fields": {"title": "JS vervangen", "priority": 2}}, {"fields": {"title": "JS via upsert"}}],
        opts={"performUpsert": {"fieldsToMergeOn": ["title"]}},
    )
    assert upserted[0]["id"] == two and upserted[1]["id"].startswith("rec")
    assert upserted == [in_airtable(served, "personal_goals", r["id"]) for r in upserted]
    assert len(goal_rows(served, "title = 'JS via upsert'")) == 1

    assert through_api("personal_goals", "destroy", ids=[one]) == [{"id": one}]
    gone_everywhere(served, "personal_goals", one)
    assert [deleted for _, _, _, deleted in goal_rows(served, "airtable_id = %s", (one,))] == [True]


def writable_copy(table: TableSpec, source: dict[str, Any], authority_of: dict[str, str]) -> dict[str, Any]:
    """The cells of ``source`` an app may write, in the forms Airtable takes for a write: an attachment by its URL,
    a collaborator by id. Links only into Airtable-authoritative tables: a link into a Postgres-authoritative one
    is that table's (it would change its rows from the Airtable side)."""
    fields: dict[str, Any] = {}
    for spec in table.fields.values():
        value = source["fields"].get(spec.name)
        if value is None or spec.is_computed:
            continue
        if spec.is_link and authority_of.get(spec.linked_table or "") != "airtable":
            continue
        if spec.type == "multipleAttachments":
            value = [{"url": item["url"], "filename": item["filename"]} for item in value]
        elif spec.type == "singleCollaborator":
            value = {"id": value["id"]}
        elif spec.type == "multipleCollaborators":
            value = [{"id": person["id"]} for person in value]
        fields[spec.name] = value
    return fields


@pytest.mark.parametrize("table_key", list(load_spec().bases["coaching"].tables))
def test_airtable_js_copies_updates_and_deletes_a_record_of_every_table(
    served: Served, through_api: JsCall, table_key: str
) -> None:
    """Every field type an app writes, in each authority's path: a copy of the record with the most cells."""
    base = served.spec.bases["coaching"]
    table = base.tables[table_key]
    authority_of = {t.id: t.authority for t in base.tables.values()}
    records = served.airtable().table(DEMO_BASE_ID, table.airtable_name).all()
    source = max(records, key=lambda r: len(writable_copy(table, r, authority_of)))
    fields = writable_copy(table, source, authority_of)
    assert len(fields) >= 4, fields

    [created] = through_api(table.airtable_name, "create", records=[{"fields": fields}])
    record_id = created["id"]
    assert created == in_airtable(served, table.airtable_name, record_id)
    assert created == served_by_api(served, table.airtable_name, record_id)
    for spec in table.fields.values():  # the copy holds the source's cells (files and people by their identity)
        if spec.name not in fields:
            continue
        copied, original = created["fields"][spec.name], source["fields"][spec.name]
        if spec.type == "multipleAttachments":
            assert [a["filename"] for a in copied] == [a["filename"] for a in original], spec.name
        elif spec.type == "singleCollaborator":
            assert copied["id"] == original["id"], spec.name
        elif spec.type == "multipleCollaborators":
            assert [c["id"] for c in copied] == [c["id"] for c in original], spec.name
        else:
            assert copied == original, spec.name

    primary = next(iter(table.fields.values())).name
    [updated] = through_api(table.airtable_name, "update", records=[{"id": record_id, "fields": {primary: "Kopie"}}])
    assert updated["fields"][primary] == "Kopie"
    assert updated == in_airtable(served, table.airtable_name, record_id)
    assert updated == served_by_api(served, table.airtable_name, record_id)

    assert through_api(table.airtable_name, "destroy", ids=[record_id]) == [{"id": record_id}]
    gone_everywhere(served, table.airtable_name, record_id)
