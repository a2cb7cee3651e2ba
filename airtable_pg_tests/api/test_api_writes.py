"""Writes through the API: an Airtable-authoritative table's write goes to Airtable and its answer is in the mirror
before the app gets it (read-your-writes); Airtable's refusals are relayed; nothing is written twice."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import psycopg.types.json
import pytest
import requests
from pyairtable import Api

from airtable_pg.postgres.database import libpq_url
from airtable_pg_tests.api.conftest import Served, serve
from airtable_pg_tests.sync_helpers import mirror_rows
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.server import Sandbox


@pytest.fixture
def served(sandbox: Sandbox, database_url: str) -> Iterator[Served]:
    from airtable_pg.spec import load_spec

    yield from serve(sandbox, database_url, load_spec(), [DEMO_BASE_ID])


@pytest.fixture
def writer(served: Served) -> Api:
    return Api(served.issue("writer", [DEMO_BASE_ID], can_write=True), endpoint_url=served.api_url)


def same_everywhere(served: Served, writer: Api, table: str, record_ids: list[str]) -> list[dict]:
    """Each record as Airtable now holds it; the API serves exactly that, from Postgres, right away."""
    airtable = served.airtable().table(DEMO_BASE_ID, table)
    truth = [airtable.get(record_id) for record_id in record_ids]
    assert [writer.table(DEMO_BASE_ID, table).get(record_id) for record_id in record_ids] == truth
    return truth


def test_creates_are_in_airtable_once_and_readable_from_the_mirror_at_once(served: Served, writer: Api) -> None:
    users = writer.table(DEMO_BASE_ID, "users")
    before = len(served.airtable().table(DEMO_BASE_ID, "users").all())
    one = users.create({"name": "Nieuwe Gebruiker", "email": "nieuw@example.nl", "role": "client", "active": True})
    many = users.batch_create([{"name": f"Batch {i}", "email": f"batch{i}@example.nl"} for i in range(12)])
    assert len(served.airtable().table(DEMO_BASE_ID, "users").all()) == before + 13
    ids = [one["id"], *(record["id"] for record in many)]
    assert same_everywhere(served, writer, "users", ids) == [one, *many]
    found = users.all(formula="FIND('batch', {email})")
    assert sorted(r["id"] for r in found) == sorted(r["id"] for r in many)
    assert set(
        mirror_rows(served.database_url, served.spec.bases["coaching"], served.spec.bases["coaching"].tables["users"])
    ) >= set(ids)


def test_updates_replaces_and_upserts(served: Served, writer: Api) -> None:
    users = writer.table(DEMO_BASE_ID, "users")
    target = served.airtable().table(DEMO_BASE_ID, "users").first(formula="{active}")
    assert target is not None
    updated = users.update(target["id"], {"first_name": "Gewijzigd"})
    assert updated["fields"]["first_name"] == "Gewijzigd" and updated["fields"]["email"] == target["fields"]["email"]
    replaced = users.update(target["id"], {"name": "Alleen Naam"}, replace=True)
    assert "email" not in replaced["fields"]
    upserted = users.batch_upsert(
        [{"fields": {"name": "Alleen Naam", "role": "coach"}}, {"fields": {"name": "Helemaal Nieuw"}}],
        key_fields=["name"],
    )
    assert upserted["updatedRecords"] == [target["id"]] and len(upserted["createdRecords"]) == 1
    assert same_everywhere(served, writer, "users", [r["id"] for r in upserted["records"]]) == upserted["records"]


def test_an_update_answered_by_field_id(served: Served, writer: Api) -> None:
    users = writer.table(DEMO_BASE_ID, "users")
    target = served.airtable().table(DEMO_BASE_ID, "users").first()
    assert target is not None
    answer = writer.request(
        "PATCH",
        str(writer.build_url(DEMO_BASE_ID, "users", target["id"])),
        json={"fields": {"last_name": "Veld"}, "returnFieldsByFieldId": True},
    )
    truth = served.airtable().table(DEMO_BASE_ID, "users").get(target["id"], use_field_ids=True)
    assert answer == truth == users.get(target["id"], use_field_ids=True)


def test_deletes_tombstone_the_mirror_row(served: Served, writer: Api) -> None:
    users = writer.table(DEMO_BASE_ID, "users")
    victims = [r["id"] for r in served.airtable().table(DEMO_BASE_ID, "users").all(max_records=3)]
    assert users.delete(victims[0]) == {"deleted": True, "id": victims[0]}
    assert users.batch_delete(victims[1:]) == [{"deleted": True, "id": v} for v in victims[1:]]
    for victim in victims:
        with pytest.raises(requests.HTTPError) as mirror:
            users.get(victim)
        with pytest.raises(requests.HTTPError) as airtable:
            served.airtable().table(DEMO_BASE_ID, "users").get(victim)
        assert mirror.value.response.status_code == airtable.value.response.status_code == 403
    with pytest.raises(requests.HTTPError) as again:
        users.delete(victims[0])  # a retried delete: relayed as Airtable refuses it, nothing tombstoned twice
    assert again.value.response.status_code == 403


def test_airtables_refusals_are_relayed_and_change_nothing(served: Served, writer: Api) -> None:
    before = served.airtable().table(DEMO_BASE_ID, "users").all()
    for call in (
        lambda t: t.create({"no such field": 1}),
        lambda t: t.create({"role": "no such option"}),
        lambda t: t.api.request("POST", t.urls.records, json={"records": [{"fields": {}} for _ in range(11)]}),
    ):
        with pytest.raises(requests.HTTPError) as mirror:
            call(writer.table(DEMO_BASE_ID, "users"))
        with pytest.raises(requests.HTTPError) as airtable:
            call(served.airtable().table(DEMO_BASE_ID, "users"))
        assert mirror.value.response.json() == airtable.value.response.json()
    assert served.airtable().table(DEMO_BASE_ID, "users").all() == before
    assert sorted(writer.table(DEMO_BASE_ID, "users").all(), key=lambda r: r["id"]) == sorted(
        before, key=lambda r: r["id"]
    )


def test_a_nul_character_round_trips(served: Served, writer: Api) -> None:
    """Postgres cannot hold NUL: the sync stores such a cell escaped, and the API serves it as Airtable does."""
    created = writer.table(DEMO_BASE_ID, "users").create({"name": "voor\x00na"})
    assert same_everywhere(served, writer, "users", [created["id"]])[0]["fields"]["name"] == "voor\x00na"
    found = writer.table(DEMO_BASE_ID, "users").all(formula="FIND('na', {name})")
    assert created["id"] in [r["id"] for r in found]


def test_a_cell_with_a_lone_surrogate_is_served_escaped(served: Served, writer: Api) -> None:
    """Postgres cannot hold a lone surrogate, nor can UTF-8: the sync stored it escaped; the API sends ``\\ud800``."""
    record = served.airtable().table(DEMO_BASE_ID, "users").first()
    assert record is not None
    users = served.spec.bases["coaching"].tables["users"]
    name_field = next(f.id for f in users.fields.values() if f.name == "name")
    escaped = psycopg.types.json.Jsonb({"$airtable_pg_escaped": '"half \\ud800 pair"'})
    with psycopg.connect(libpq_url(served.database_url)) as conn:
        conn.execute(
            "update airtable.users set fields = jsonb_set(fields, %s, %s) where airtable_id = %s",
            ([name_field], escaped, record["id"]),
        )
    served_record = writer.table(DEMO_BASE_ID, "users").get(record["id"])
    assert served_record["fields"]["name"] == "half \ud800 pair"
    assert {k: v for k, v in served_record["fields"].items() if k != "name"} == {
        k: v for k, v in record["fields"].items() if k != "name"
    }
