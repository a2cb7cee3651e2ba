"""Writes through the API to Postgres-authoritative tables: the mirror row is written in one transaction as an app
would write it, the outbox pushes it (to the sandbox, over HTTP), and the app is answered with Airtable's record id
and Airtable's answer; retries never write twice; a rollback to Airtable keeps every returned id working."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pyairtable import Api

from airtable_pg.api.app import build_app
from airtable_pg.receiver.server import ReceiverServer
from airtable_pg.routing.flags import BackendFlags
from airtable_pg.routing.rollback import rollback
from airtable_pg.spec import load_spec
from airtable_pg.sync.outbound import OutboundConfig
from airtable_pg_tests.api.conftest import Served, serve
from airtable_pg_tests.sync.outbound_helpers import app_sql, make_pusher, outbox_rows
from airtable_pg_tests.sync_helpers import sandbox_runtime
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
GOALS = COACHING.tables["personal_goals"]
BELIEFS = COACHING.tables["persoonlijke_overtuigingen"]


@pytest.fixture
def served(sandbox: Sandbox, database_url: str) -> Iterator[Served]:
    yield from serve(sandbox, database_url, SPEC, [DEMO_BASE_ID])


@pytest.fixture
def writer(served: Served) -> Api:
    return Api(served.issue("writer", [DEMO_BASE_ID], can_write=True), endpoint_url=served.api_url)


def in_airtable(served: Served, table: str, record_id: str, **options: Any) -> dict[str, Any]:
    """The record as Airtable holds it, less the idempotency-key field the outbox keeps there (not in the spec, so
    never served by the API)."""
    return without_key(served.airtable().table(DEMO_BASE_ID, table).get(record_id, **options), served)


def without_key(record: dict[str, Any], served: Served | None = None) -> dict[str, Any]:
    keys = {"airtable_pg_id"}
    if served is not None:
        keys |= {
            row[0] for row in app_sql(served.database_url, "select field_id from airtable_sync.outbound_key_field")
        }
    return {**record, "fields": {k: v for k, v in record["fields"].items() if k not in keys}}


def goal_rows(served: Served, where: str = "true", params: Any = ()) -> list[tuple]:
    return app_sql(
        served.database_url,
        f"select id::text, airtable_id, title, deleted_at is not null from airtable.personal_goals where {where}",
        params,
    )


def a_user(served: Served) -> str:
    record = served.airtable().table(DEMO_BASE_ID, "users").first()
    assert record is not None
    return record["id"]


def test_a_create_is_pushed_and_answered_with_airtables_id_and_answer(served: Served, writer: Api) -> None:
    goals = writer.table(DEMO_BASE_ID, "personal_goals")
    user = a_user(served)
    created = goals.create(
        {"title": "Via de API", "user": [user], "target_minutes": 120, "minutes_practiced": 30, "priority": 3,
         "deadline": "2027-01-15", "focus_areas": ["Focus"]}, typecast=True,
    )  # fmt: skip
    assert created["id"].startswith("rec")
    # Airtable's own answer: its id, createdTime and the cells it computed (progress = 30 / 120)
    assert created == in_airtable(served, "personal_goals", created["id"])
    assert created["fields"]["progress"] == 0.25
    # one mirror row, which the outbox created in Airtable once and gave Airtable's id
    rows = goal_rows(served, "title = %s", ("Via de API",))
    assert [(airtable_id, deleted) for _, airtable_id, _, deleted in rows] == [(created["id"], False)]
    assert [r[3] for r in outbox_rows(served.database_url) if r[0] == "personal_goals"] == ["done"]
    # read-your-writes, through the API, by id and by formula
    assert goals.get(created["id"]) == created
    assert [r["id"] for r in goals.all(formula="{title} = 'Via de API'")] == [created["id"]]
    batch = goals.batch_create([{"title": f"Batch {i}", "user": [user]} for i in range(3)])
    assert sorted(r["id"] for r in batch) == sorted(r["id"] for r in goals.all(formula="FIND('Batch ', {title})"))
    assert [in_airtable(served, "personal_goals", r["id"]) for r in batch] == batch


def test_updates_replaces_upserts_and_deletes(served: Served, writer: Api) -> None:
    goals = writer.table(DEMO_BASE_ID, "personal_goals")
    target = served.airtable().table(DEMO_BASE_ID, "personal_goals").first(formula="{target_minutes} > 0")
    assert target is not None
    updated = goals.update(target["id"], {"minutes_practiced": 15, "description": "Bijgewerkt"})
    assert updated == in_airtable(served, "personal_goals", target["id"]) == goals.get(target["id"])
    assert updated["fields"]["description"] == "Bijgewerkt" and updated["fields"]["title"] == target["fields"]["title"]
    by_id = writer.request(
        "PATCH",
        str(writer.build_url(DEMO_BASE_ID, "personal_goals", target["id"])),
        json={"fields": {"description": "Per veld-id"}, "returnFieldsByFieldId": True},
    )
    assert by_id == in_airtable(served, "personal_goals", target["id"], use_field_ids=True)
    replaced = goals.update(target["id"], {"title": "Alleen titel"}, replace=True)
    computed = {f.name for f in GOALS.fields.values() if f.is_computed}
    assert set(replaced["fields"]) - computed == {"title"}  # computed cells are Airtable's
    assert replaced == in_airtable(served, "personal_goals", target["id"])
    upserted = goals.batch_upsert(
        [{"fields": {"title": "Alleen titel", "priority": 2}}, {"fields": {"title": "Nieuw via upsert"}}],
        key_fields=["title"],
    )
    assert upserted["updatedRecords"] == [target["id"]] and len(upserted["createdRecords"]) == 1
    assert upserted["records"] == [in_airtable(served, "personal_goals", r["id"]) for r in upserted["records"]]
    again = goals.batch_upsert([{"fields": {"title": "Nieuw via upsert", "priority": 4}}], key_fields=["title"])
    assert again["updatedRecords"] == upserted["createdRecords"] and again["createdRecords"] == []
    assert len(goal_rows(served, "title = %s", ("Nieuw via upsert",))) == 1

    victims = [r["id"] for r in served.airtable().table(DEMO_BASE_ID, "personal_goals").all(max_records=3)]
    assert goals.delete(victims[0]) == {"deleted": True, "id": victims[0]}
    assert goals.batch_delete(victims[1:]) == [{"deleted": True, "id": v} for v in victims[1:]]
    for victim in victims:
        for api in (writer, served.airtable()):  # gone from the mirror's answers and from Airtable
            with pytest.raises(requests.HTTPError) as gone:
                api.table(DEMO_BASE_ID, "personal_goals").get(victim)
            assert gone.value.response.status_code in (403, 404)
    assert {r[3] for r in goal_rows(served, "airtable_id = any(%s)", (victims,))} == {True}  # tombstones
    with pytest.raises(requests.HTTPError) as twice:
        goals.delete(victims[0])  # a second delete: refused as Airtable refuses it
    assert twice.value.response.status_code == 403


def test_refusals_are_airtables_and_change_nothing(served: Served, writer: Api) -> None:
    user = a_user(served)
    calls = [
        lambda t: t.create({"no such field": 1}),
        lambda t: t.create({"progress": 0.5}),  # computed
        lambda t: t.create({"target_minutes": "veel"}),
        lambda t: t.create({"deadline": "morgen"}),
        lambda t: t.create({"user": ["recNoSuchRecord01"]}),
        lambda t: t.update("recNoSuchRecord01", {"title": "x"}),
        lambda t: t.batch_update([{"id": "recNoSuchRecord01", "fields": {"title": "x"}}]),
        lambda t: t.api.request("POST", t.urls.records, json={"records": [{"fields": {}} for _ in range(11)]}),
        lambda t: t.api.request("POST", t.urls.records, json={"records": "no"}),
        lambda t: t.delete("recNoSuchRecord01"),
        lambda t: t.batch_delete(["recNoSuchRecord01"]),
        lambda t: t.api.request("DELETE", t.urls.records, params={"records[]": [f"rec{i:014d}" for i in range(11)]}),
        lambda t: t.api.request(
            "PATCH",
            t.urls.records,
            json={"records": [{"fields": {"title": "x"}}], "performUpsert": {"fieldsToMergeOn": ["progress"]}},
        ),
    ]
    before_rows = goal_rows(served)
    for call in calls:
        with pytest.raises(requests.HTTPError) as mirror:
            call(writer.table(DEMO_BASE_ID, "personal_goals"))
        with pytest.raises(requests.HTTPError) as airtable:
            call(served.airtable().table(DEMO_BASE_ID, "personal_goals"))
        assert mirror.value.response.status_code == airtable.value.response.status_code
        assert mirror.value.response.json() == airtable.value.response.json()
    # an option the field lacks, on a table pushed without typecast: only Airtable knows; its refusal is relayed
    # and the create undone
    beliefs = served.airtable().table(DEMO_BASE_ID, "persoonlijke_overtuigingen").all()
    refused = []
    for api in (writer, served.airtable()):
        with pytest.raises(requests.HTTPError) as error:
            api.table(DEMO_BASE_ID, "persoonlijke_overtuigingen").create(
                {"omschrijving": "Onbekende status", "gebruiker": [user], "status": "geen optie"}
            )
        refused.append((error.value.response.status_code, error.value.response.json()))
    assert refused[0] == refused[1] and refused[0][0] == 422
    assert served.airtable().table(DEMO_BASE_ID, "persoonlijke_overtuigingen").all() == beliefs
    assert app_sql(served.database_url, "select count(*) from airtable.persoonlijke_overtuigingen where "
                   "omschrijving = 'Onbekende status'") == [(0,)]  # fmt: skip
    assert app_sql(served.database_url, "select status from airtable_sync.dead_letter") in ([], [("discarded",)])
    assert goal_rows(served) == before_rows
    assert outbox_rows(served.database_url) == []


def test_airtable_down_a_create_is_saved_and_its_retry_answers_it_once(
    sandbox: Sandbox, database_url: str, served: Served
) -> None:
    """Airtable unreachable past the wait: 503, the write saved and queued; the same request again, once Airtable
    is back, answers it with Airtable's id — one row, one record."""
    runtime = sandbox_runtime(sandbox, database_url, SPEC, airtable={"max_attempts": 1})
    quick = OutboundConfig(backoff_seconds=0.05, backoff_max_seconds=0.1)
    app = build_app(SPEC, database_url, runtime.api, outbound=quick, write_wait_seconds=1.0)
    with ReceiverServer(app) as server:
        writer = Api(served.issue("retrier", [DEMO_BASE_ID], can_write=True), endpoint_url=server.url)
        goals = writer.table(DEMO_BASE_ID, "personal_goals")
        sandbox.limits.configure({"fault_5xx_ratio": 1.0})
        with pytest.raises(requests.HTTPError) as down:
            goals.create({"title": "Tijdens storing"})
        assert down.value.response.status_code == 503
        assert down.value.response.json()["error"]["type"] == "RETRIABLE_ERROR"
        saved = goal_rows(served, "title = %s", ("Tijdens storing",))
        assert [(airtable_id, deleted) for _, airtable_id, _, deleted in saved] == [(None, False)]
        with pytest.raises(requests.HTTPError):
            goals.create({"title": "Tijdens storing"})  # retried while still down: still the one row
        assert len(goal_rows(served, "title = %s", ("Tijdens storing",))) == 1
        sandbox.limits.configure({"fault_5xx_ratio": 0.0})
        answered = goals.create({"title": "Tijdens storing"})  # the retry once Airtable is back
        rows = goal_rows(served, "title = %s", ("Tijdens storing",))
        assert rows == [(saved[0][0], answered["id"], "Tijdens storing", False)]
        assert answered == in_airtable(served, "personal_goals", answered["id"])
        titles = [r["fields"].get("title") for r in served.airtable().table(DEMO_BASE_ID, "personal_goals").all()]
        assert titles.count("Tijdens storing") == 1
        again = goals.create({"title": "Tijdens storing"})  # answered before: a new create, as in Airtable
        assert again["id"] != answered["id"]


def test_an_update_while_airtable_is_down_is_answered_and_pushed_later(
    sandbox: Sandbox, database_url: str, served: Served
) -> None:
    runtime = sandbox_runtime(sandbox, database_url, SPEC, airtable={"max_attempts": 1})
    quick = OutboundConfig(backoff_seconds=0.05, backoff_max_seconds=0.1)
    app = build_app(SPEC, database_url, runtime.api, outbound=quick, write_wait_seconds=0.5)
    target = served.airtable().table(DEMO_BASE_ID, "personal_goals").first()
    assert target is not None
    with ReceiverServer(app) as server:
        writer = Api(served.issue("down", [DEMO_BASE_ID], can_write=True), endpoint_url=server.url)
        goals = writer.table(DEMO_BASE_ID, "personal_goals")
        sandbox.limits.configure({"fault_5xx_ratio": 1.0})
        answered = goals.update(target["id"], {"description": "Tijdens storing"})
        assert answered["id"] == target["id"] and answered["fields"]["description"] == "Tijdens storing"
        assert goals.get(target["id"]) == answered  # read-your-writes from the mirror, before Airtable has it
        sandbox.limits.configure({"fault_5xx_ratio": 0.0})
    make_pusher(sandbox, database_url).push_all()  # the outbox, as `airtable-pg outbound run` pushes it
    assert served.airtable().table(DEMO_BASE_ID, "personal_goals").get(target["id"])["fields"]["description"] == (
        "Tijdens storing"
    )


def test_ids_the_api_returned_keep_working_after_a_rollback_to_airtable(
    sandbox: Sandbox, database_url: str, served: Served, writer: Api
) -> None:
    goals = writer.table(DEMO_BASE_ID, "personal_goals")
    created = goals.create({"title": "Voor de rollback", "minutes_practiced": 10})
    flags = BackendFlags(sandbox_runtime(sandbox, database_url, SPEC).db, SPEC, environ={})
    rollback(flags, make_pusher(sandbox, database_url), "coaching.personal_goals", reason="test")
    assert flags.mode("coaching.personal_goals") == "airtable"
    # served from Airtable now (relayed, so with the idempotency-key field Airtable holds): the same id and record
    assert without_key(goals.get(created["id"])) == created
    updated = goals.update(created["id"], {"minutes_practiced": 20})  # still written in Postgres, pushed at once
    assert without_key(goals.get(created["id"])) == updated == in_airtable(served, "personal_goals", created["id"])
    assert [r["id"] for r in goals.all(formula="{title} = 'Voor de rollback'")] == [created["id"]]
    assert goals.delete(created["id"]) == {"deleted": True, "id": created["id"]}
    with pytest.raises(requests.HTTPError):
        served.airtable().table(DEMO_BASE_ID, "personal_goals").get(created["id"])


@pytest.mark.parametrize(
    ("table", "assignments", "written"),
    [
        (
            "personal_goals",
            "description = 'In Postgres geschreven', minutes_practiced = 45, focus_areas = '{Rust,Ritme}'",
            {"description": "In Postgres geschreven", "minutes_practiced": 45, "focus_areas": ["Rust", "Ritme"]},
        ),
        ("persoonlijke_overtuigingen", "reflectie = 'In Postgres geschreven', sterkte = 0.4",
         {"reflectie": "In Postgres geschreven", "sterkte": 0.4}),
    ],
)  # fmt: skip
def test_reads_serve_what_the_app_wrote_in_postgres_at_once(
    sandbox: Sandbox, served: Served, writer: Api, table: str, assignments: str, written: dict[str, Any]
) -> None:
    """A row the app changed in Postgres is served from its typed columns until the outbox pushed it: every cell
    as Airtable will answer it; afterwards Airtable's echo, equal to Airtable's record."""
    records = writer.table(DEMO_BASE_ID, table)
    for target in served.airtable().table(DEMO_BASE_ID, table).all(max_records=20):
        app_sql(
            served.database_url, f"update airtable.{table} set {assignments} where airtable_id = %s", (target["id"],)
        )
        served_now = records.get(target["id"])
        assert {k: served_now["fields"].get(k) for k in written} == written
        untouched = {k: v for k, v in target["fields"].items() if k not in written and k != "airtable_pg_id"}
        assert {k: v for k, v in served_now["fields"].items() if k not in written} == untouched
    field = next(iter(written))
    ids = [r["id"] for r in records.all(formula=f"{{{field}}} = 'In Postgres geschreven'")]
    assert len(ids) == 20
    make_pusher(sandbox, served.database_url).push_all()
    for record_id in ids:
        assert records.get(record_id) == in_airtable(served, table, record_id)


def test_without_an_airtable_token_the_api_writes_and_the_outbox_pushes(
    sandbox: Sandbox, database_url: str, served: Served
) -> None:
    """An API with no Airtable token writes the mirror row; the outbox of another process (`outbound run --follow`)
    pushes it, and the API answers with the id Airtable gave."""
    stop = threading.Event()
    pusher = threading.Thread(target=make_pusher(sandbox, database_url).follow, args=(database_url, stop),
                              kwargs={"interval": 0.2}, daemon=True)  # fmt: skip
    pusher.start()
    try:
        with ReceiverServer(build_app(SPEC, database_url, None, write_wait_seconds=20)) as server:
            writer = Api(served.issue("tokenless", [DEMO_BASE_ID], can_write=True), endpoint_url=server.url)
            created = writer.table(DEMO_BASE_ID, "personal_goals").create({"title": "Door de outbox"})
            assert created == in_airtable(served, "personal_goals", created["id"])
            assert writer.table(DEMO_BASE_ID, "personal_goals").get(created["id"]) == created
    finally:
        stop.set()
        pusher.join(timeout=30)


def test_the_same_create_sent_again_while_the_first_waits_is_one_record(
    sandbox: Sandbox, database_url: str, served: Served
) -> None:
    """A client that gave up waiting and sent the create again (a proxy's retry) while the API still waits for
    Airtable: both are answered with the same record, written once in Postgres and once in Airtable."""
    runtime = sandbox_runtime(sandbox, database_url, SPEC)
    with ReceiverServer(build_app(SPEC, database_url, runtime.api, write_wait_seconds=15)) as server:
        writer = Api(served.issue("impatient", [DEMO_BASE_ID], can_write=True), endpoint_url=server.url)
        goals = writer.table(DEMO_BASE_ID, "personal_goals")
        goals.create({"title": "Opwarmen"})  # the key field exists: the pushes below are one request each
        sandbox.limits.configure({"latency_ms": 1500})
        answers: list[dict[str, Any]] = []
        first = threading.Thread(target=lambda: answers.append(goals.create({"title": "Twee keer gestuurd"})))
        first.start()
        # the first is waiting for Airtable once its pending write is stored (not after a guessed pause)
        wait_until(
            lambda: app_sql(database_url, "select count(*) from airtable_sync.api_pending_write")[0][0] > 0,
            timeout=60,
            what="the first create's pending write",
        )
        second = goals.create({"title": "Twee keer gestuurd"})
        first.join(timeout=30)
        sandbox.limits.configure({"latency_ms": 0})
    assert answers == [second]
    assert len(goal_rows(served, "title = %s", ("Twee keer gestuurd",))) == 1
    titles = [r["fields"].get("title") for r in served.airtable().table(DEMO_BASE_ID, "personal_goals").all()]
    assert titles.count("Twee keer gestuurd") == 1


def test_typecast_converts_as_airtable_does(served: Served, writer: Api) -> None:
    """The same typecast create through the API and straight to Airtable: the same cells come back (the API's are
    Airtable's echo of what it wrote, so they are what Airtable made of the converted values)."""
    fields = {"title": 42, "target_minutes": "1,250", "minutes_practiced": "50", "priority": "3",
              "deadline": "01/15/2027", "focus_areas": "Rust, Ritme", "budget": "12.5"}  # fmt: skip
    through_api = writer.table(DEMO_BASE_ID, "personal_goals").create(fields, typecast=True)
    direct = served.airtable().table(DEMO_BASE_ID, "personal_goals").create(fields, typecast=True)
    per_record = {"created", "last_modified", "goal_number"}  # creation time, autonumber: each record its own

    def cells(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in without_key(record)["fields"].items() if k not in per_record}

    assert cells(through_api) == cells(direct) and set(through_api["fields"]) == set(without_key(direct)["fields"])
    assert through_api["fields"]["title"] == "42" and through_api["fields"]["target_minutes"] == 1250
    with pytest.raises(requests.HTTPError) as refused:
        writer.table(DEMO_BASE_ID, "personal_goals").create(fields)  # without typecast: Airtable's refusal
    with pytest.raises(requests.HTTPError) as airtable:
        served.airtable().table(DEMO_BASE_ID, "personal_goals").create(fields)
    assert refused.value.response.json() == airtable.value.response.json()


def test_a_request_airtable_refuses_at_the_push_changes_nothing(served: Served, writer: Api) -> None:
    """What only Airtable can check (a select option the field lacks, on a table pushed without typecast): its
    refusal is relayed, and the request's whole write is undone — an update's row put back, a batch's creates gone
    (Airtable takes or refuses a request as a whole)."""
    beliefs_api = writer.table(DEMO_BASE_ID, "persoonlijke_overtuigingen")
    beliefs_airtable = served.airtable().table(DEMO_BASE_ID, "persoonlijke_overtuigingen")
    target = beliefs_airtable.first()
    assert target is not None
    before = beliefs_api.get(target["id"])
    user = a_user(served)
    calls = [
        lambda t: t.update(target["id"], {"reflectie": "Mag niet blijven", "status": "geen optie"}),
        lambda t: t.batch_create(
            [{"omschrijving": "Goed", "gebruiker": [user]}, {"omschrijving": "Fout", "status": "geen optie"}]
        ),
    ]
    all_before = beliefs_airtable.all()
    for call in calls:
        with pytest.raises(requests.HTTPError) as mirror:
            call(beliefs_api)
        with pytest.raises(requests.HTTPError) as airtable:
            call(beliefs_airtable)
        assert mirror.value.response.status_code == airtable.value.response.status_code == 422
        assert mirror.value.response.json() == airtable.value.response.json()
    assert beliefs_airtable.all() == all_before
    assert beliefs_api.get(target["id"]) == before
    assert app_sql(served.database_url, "select count(*) from airtable.persoonlijke_overtuigingen where "
                   "omschrijving in ('Goed', 'Fout') or reflectie = 'Mag niet blijven'") == [(0,)]  # fmt: skip
    assert outbox_rows(served.database_url) == []
    assert app_sql(served.database_url, "select count(*) from airtable_sync.dead_letter where status = 'open'") == [
        (0,)
    ]


def test_attachments_are_taken_in_airtables_forms_only(served: Served, writer: Api) -> None:
    """An API client names an attachment by id or URL, as in Airtable; the pusher's server-side upload forms are not
    passed on from it (a token to the API must not read the server's files)."""
    goals = writer.table(DEMO_BASE_ID, "personal_goals")
    with pytest.raises(requests.HTTPError) as refused:
        goals.create({"title": "Bewijs", "evidence": [{"file": "/etc/passwd"}]})
    assert refused.value.response.json()["error"]["type"] == "INVALID_VALUE_FOR_COLUMN"
    assert goal_rows(served, "title = 'Bewijs'") == []
    created = goals.create(
        {"title": "Bewijs", "evidence": [{"url": "https://example.com/plan.pdf", "filename": "plan.pdf"}]}
    )
    assert created == in_airtable(served, "personal_goals", created["id"])
    assert created["fields"]["evidence"][0]["filename"] == "plan.pdf"


def test_a_rollback_while_a_client_writes_through_the_api_loses_and_doubles_nothing(
    sandbox: Sandbox, database_url: str, served: Served, writer: Api
) -> None:
    """The seed's rollback test, many times over: an app creates and updates goals through the API without pause
    while the entity is cut over and rolled back again and again. Every write ends in Airtable and in Postgres,
    none twice, and every id the API answered with is the record's in both."""
    goals = writer.table(DEMO_BASE_ID, "personal_goals")
    flags = BackendFlags(sandbox_runtime(sandbox, database_url, SPEC).db, SPEC, environ={})
    pusher = make_pusher(sandbox, database_url)
    stop, failures = threading.Event(), []
    created: list[str] = []
    minutes: dict[str, int] = {}

    def app() -> None:
        n = 0
        try:
            while not stop.is_set():
                record = goals.create({"title": f"Continuous {n}", "minutes_practiced": n})
                created.append(record["id"])
                minutes[record["id"]] = n
                if n % 3 == 0:  # some records change again, in whichever mode the flag is now
                    goals.update(record["id"], {"minutes_practiced": n + 1000})
                    minutes[record["id"]] = n + 1000
                n += 1
        except Exception as error:  # noqa: BLE001 - any failed write fails the test, below
            failures.append(repr(error))

    def more_writes() -> None:
        before = len(created)
        wait_until(lambda: len(created) >= before + 2 or failures, timeout=60, what="the app's next writes")

    writing = threading.Thread(target=app)
    writing.start()
    try:
        for flip in range(5):
            flags.set("coaching.personal_goals", "postgres_primary", reason=f"cut over {flip}", force=True)
            more_writes()
            report = rollback(flags, pusher, "coaching.personal_goals", reason=f"roll back {flip}")
            assert report.previous_mode == "postgres_primary" and flags.mode("coaching.personal_goals") == "airtable"
            more_writes()
    finally:
        stop.set()
        writing.join(timeout=60)
    assert not failures, failures
    pusher.push_all()  # what the app wrote after the last rollback's drain
    assert [status for *_, status, _ in outbox_rows(database_url) if status != "done"] == []

    in_airtable_now = served.airtable().table(DEMO_BASE_ID, "personal_goals").all(formula="FIND('Continuous', {title})")
    assert len(created) >= 20 and len(set(created)) == len(created)
    assert sorted(r["id"] for r in in_airtable_now) == sorted(created)  # each once, by the id the app was given
    assert {r["id"]: r["fields"].get("minutes_practiced") for r in in_airtable_now} == minutes
    rows = goal_rows(served, "title like 'Continuous %%'")
    assert sorted(airtable_id for _, airtable_id, _, _ in rows) == sorted(created)  # one row each, none deleted
    assert dict(app_sql(database_url, "select airtable_id, minutes_practiced from airtable.personal_goals "
                                      "where title like 'Continuous %%'")) == minutes  # fmt: skip
