"""The sandbox's records, metadata and admin APIs, driven over real HTTP by unmodified pyairtable."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pyairtable import Api
from pyairtable.formulas import AND, GT, IS_AFTER, LAST_MODIFIED_TIME, OR, RECORD_ID, Field, match

from airtable_pg_tests import SAMPLES
from airtable_sandbox import demo
from airtable_sandbox.events import Transaction
from airtable_sandbox.pytest_plugin import SandboxFactory, airtable_api_for
from airtable_sandbox.server import Sandbox
from airtable_sandbox.store import API_USER, UI_USER, SeedRecord

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BASE = "appSandboxTests01"
PEOPLE, TEAMS, NOTES = "tblPeople00000001", "tblTeams000000001", "tblNotes000000001"
SLASHED = "tblSlashed0000001"
SLASHED_NAME = "a/b; 'c' ?#"


def fid(label: str) -> str:
    """A readable field id: ``fid("Age")`` → ``fldAge00000000000`` (17 characters like Airtable's)."""
    return "fld" + label.ljust(14, "0")


def _field(label: str, name: str, field_type: str, options: dict | None = None, **extra: Any) -> dict:
    field = {"id": fid(label), "name": name, "type": field_type, **extra}
    if options is not None:
        field["options"] = options
    return field


def _choices(*names: str) -> dict:
    return {"choices": [{"id": f"sel{name.ljust(14, '0')}", "name": name, "color": "blueLight2"} for name in names]}


def _link(label: str, name: str, table: str, inverse: str) -> dict:
    options = {
        "linkedTableId": table,
        "inverseLinkFieldId": fid(inverse),
        "isReversed": False,
        "prefersSingleRecordLink": False,
    }
    return _field(label, name, "multipleRecordLinks", options)


def _number_result() -> dict:
    return {"type": "number", "options": {"precision": 0}}


def test_schema() -> list[dict]:
    people_fields = [
        _field("Name", "Name", "singleLineText", description="Who"),
        _field("Age", "Age", "number", {"precision": 0}),
        _field("Status", "Status", "singleSelect", _choices("Todo", "Done")),
        _field("Tags", "Tags", "multipleSelects", _choices("red", "blue")),
        _field("Active", "Active", "checkbox", {"icon": "check", "color": "greenBright"}),
        _field("Born", "Born", "date", {"dateFormat": {"name": "iso", "format": "YYYY-MM-DD"}}),
        _field(
            "Seen",
            "Seen",
            "dateTime",
            {
                "timeZone": "utc",
                "dateFormat": {"name": "iso", "format": "YYYY-MM-DD"},
                "timeFormat": {"name": "24hour", "format": "HH:mm"},
            },
        ),
        _field("Email", "Email", "email"),
        _link("Team", "Team", TEAMS, "Members"),
        _field(
            "TeamTitle",
            "Team title",
            "multipleLookupValues",
            {
                "isValid": True,
                "recordLinkFieldId": fid("Team"),
                "fieldIdInLinkedTable": fid("Title"),
                "result": {"type": "singleLineText"},
            },
        ),
        _field(
            "AgeNext",
            "Age next year",
            "formula",
            {
                "formula": f"{{{fid('Age')}}} + 1",
                "isValid": True,
                "referencedFieldIds": [fid("Age")],
                "result": _number_result(),
            },
        ),
        _field(
            "Ratio",
            "Ratio",
            "formula",
            {
                "formula": f"10 / {{{fid('Age')}}}",
                "isValid": True,
                "referencedFieldIds": [fid("Age")],
                "result": _number_result(),
            },
        ),
        _field("Number", "Number", "autoNumber"),
        _field("Created", "Created", "createdTime", {"result": {"type": "dateTime", "options": {}}}),
        _field(
            "Modified",
            "Modified",
            "lastModifiedTime",
            {"isValid": True, "referencedFieldIds": [], "result": {"type": "dateTime", "options": {}}},
        ),
        _field(
            "StatusChanged",
            "Status changed",
            "lastModifiedTime",
            {"isValid": True, "referencedFieldIds": [fid("Status")], "result": {"type": "dateTime", "options": {}}},
        ),
        _field("CreatedBy", "Created by", "createdBy"),
        _field("ModifiedBy", "Modified by", "lastModifiedBy"),
    ]
    team_fields = [
        _field("Title", "Title", "singleLineText"),
        _link("Members", "Members", PEOPLE, "Team"),
        _field("MemberCount", "Member count", "count", {"isValid": True, "recordLinkFieldId": fid("Members")}),
        _field(
            "AgeTotal",
            "Age total",
            "rollup",
            {
                "isValid": True,
                "recordLinkFieldId": fid("Members"),
                "fieldIdInLinkedTable": fid("Age"),
                "referencedFieldIds": [],
                "result": _number_result(),
            },
            _sandbox={"rollup": "SUM"},
        ),
        _field(
            "AgeAvg",
            "Age average",
            "rollup",
            {
                "isValid": True,
                "recordLinkFieldId": fid("Members"),
                "fieldIdInLinkedTable": fid("Age"),
                "referencedFieldIds": [],
                "result": _number_result(),
            },
            _sandbox={"rollup": "AVERAGE"},
        ),
    ]

    def table(table_id: str, name: str, fields: list[dict]) -> dict:
        view = {"id": "viw" + name[:5].replace("/", "x").ljust(14, "0"), "name": "Grid view", "type": "grid"}
        return {"id": table_id, "name": name, "primaryFieldId": fields[0]["id"], "fields": fields, "views": [view]}

    return [
        table(PEOPLE, "People", people_fields),
        table(TEAMS, "Teams", team_fields),
        table(NOTES, "Notes", [_field("Text", "Text", "singleLineText"), _field("Rank", "Rank", "number")]),
        table(SLASHED, SLASHED_NAME, [_field("Label", "Label", "singleLineText")]),
    ]


test_schema.__test__ = False  # a schema builder, not a test


ANN, BOB, CY = "recAnn00000000001", "recBob00000000001", "recCy000000000001"
RED, BLUE = "recTeamRed0000001", "recTeamBlue000001"
SEED_TIME = datetime(2025, 1, 1, tzinfo=UTC).timestamp()


def _seeds() -> list[SeedRecord]:
    def seed(table: str, record_id: str, cells: dict, offset: float = 0) -> SeedRecord:
        return SeedRecord(table, record_id, SEED_TIME + offset, SEED_TIME + offset, cells)

    # People come before teams on purpose: the store must fill the teams' inverse side afterwards.
    return [
        seed(PEOPLE, ANN, {fid("Name"): "Ann", fid("Age"): 30, fid("Status"): "Todo", fid("Team"): [RED]}, 1),
        seed(PEOPLE, BOB, {fid("Name"): "Bob", fid("Age"): 0, fid("Status"): "Done", fid("Team"): [RED]}, 2),
        seed(PEOPLE, CY, {fid("Name"): "Cy", fid("Age"): 45, fid("Tags"): ["red"], fid("Team"): [BLUE]}, 3),
        seed(TEAMS, RED, {fid("Title"): "Red"}),
        seed(TEAMS, BLUE, {fid("Title"): "Blue"}),
        *(seed(NOTES, f"recNote{i:010d}", {fid("Text"): f"note {i:02d}", fid("Rank"): i % 7}, i) for i in range(25)),
        seed(SLASHED, "recSlashed0000001", {fid("Label"): "found me"}),
    ]


@pytest.fixture
def test_sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    sandbox = sandbox_factory(demo_records=None)
    sandbox.add_base(test_schema(), BASE, "Sandbox tests")
    sandbox.store.load_records(BASE, None, _seeds())
    return sandbox


@pytest.fixture
def api(test_sandbox: Sandbox) -> Api:
    return airtable_api_for(test_sandbox, retry_strategy=None)


@pytest.fixture
def transactions(test_sandbox: Sandbox) -> list[Transaction]:
    seen: list[Transaction] = []
    test_sandbox.store.add_listener(seen.append)
    return seen


def _error(exc_info: pytest.ExceptionInfo[requests.HTTPError]) -> tuple[int, Any]:
    response = exc_info.value.response
    return response.status_code, response.json()


def _raw(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    return requests.request(method, sandbox.url + path, headers=headers, timeout=10, **kwargs)


# --------------------------------------------------------------------------------------------- reading


def test_records_have_airtable_shape_and_computed_fields(api: Api) -> None:
    people = {r["id"]: r for r in api.table(BASE, "People").all()}
    ann, bob, cy = people[ANN], people[BOB], people[CY]
    assert set(ann) == {"id", "createdTime", "fields"} and TIMESTAMP.match(ann["createdTime"])
    assert ann["fields"]["Team"] == [RED] and ann["fields"]["Team title"] == ["Red"]
    assert ann["fields"]["Age next year"] == 31 and ann["fields"]["Ratio"] == pytest.approx(10 / 30)
    assert bob["fields"]["Ratio"] == {"error": "#DIV/0!"}  # error values are kept, as Airtable returns them
    assert "Active" not in ann["fields"] and "Tags" not in ann["fields"]  # empty cells are omitted
    assert cy["fields"]["Tags"] == ["red"] and "Status changed" not in cy["fields"]
    assert ann["fields"]["Created by"] == UI_USER and ann["fields"]["Created"] == "2025-01-01T00:00:01.000Z"
    assert sorted(p["fields"]["Number"] for p in people.values()) == [1, 2, 3]
    teams = {r["fields"]["Title"]: r["fields"] for r in api.table(BASE, TEAMS).all()}
    assert teams["Red"]["Members"] == [ANN, BOB]  # the inverse side, filled by the store from the seeds
    assert teams["Red"]["Member count"] == 2 and teams["Red"]["Age total"] == 30 and teams["Red"]["Age average"] == 15
    assert teams["Blue"]["Age total"] == 45


def test_record_without_values_has_empty_fields(api: Api) -> None:
    created = api.table(BASE, "Notes").create({"Text": "", "Rank": None})
    assert created["fields"] == {}
    assert api.table(BASE, "Notes").get(created["id"])["fields"] == {}


def test_pages_follow_page_size_and_max_records(api: Api) -> None:
    notes = api.table(BASE, "Notes")
    assert [len(page) for page in notes.iterate(page_size=10, max_records=25)] == [10, 10, 5]
    assert [len(page) for page in notes.iterate(page_size=10)] == [10, 10, 5]
    assert len(notes.all(max_records=7)) == 7
    texts = [r["fields"]["Text"] for r in notes.all(page_size=4)]
    assert texts == [f"note {i:02d}" for i in range(25)]  # no sort: creation order, no record twice


def test_offset_resumes_and_expires(test_sandbox: Sandbox) -> None:
    first = _raw(test_sandbox, "GET", f"/v0/{BASE}/Notes", params={"pageSize": 10}).json()
    assert re.match(r"^itr[0-9A-Za-z]{14}/rec[0-9A-Za-z]{14}$", first["offset"])
    again = _raw(test_sandbox, "GET", f"/v0/{BASE}/Notes", params={"pageSize": 10, "offset": first["offset"]})
    retried = _raw(test_sandbox, "GET", f"/v0/{BASE}/Notes", params={"pageSize": 10, "offset": first["offset"]})
    assert again.json() == retried.json()  # a retried page after a lost response gets the same page
    assert again.json()["records"][0]["fields"]["Text"] == "note 10"
    malformed = _raw(test_sandbox, "GET", f"/v0/{BASE}/Notes", params={"offset": "nonsense"})
    assert malformed.status_code == 422 and malformed.json()["error"]["type"] == "INVALID_OFFSET_VALUE"
    test_sandbox.clock.advance(601)
    stale = _raw(test_sandbox, "GET", f"/v0/{BASE}/Notes", params={"offset": first["offset"]})
    assert stale.status_code == 422 and stale.json() == {"error": {"type": "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"}}


def test_listing_survives_deletes_and_ignores_records_created_meanwhile(api: Api) -> None:
    notes = api.table(BASE, "Notes")
    pages = notes.iterate(page_size=10)
    first = next(pages)
    notes.batch_delete(["recNote0000000010", "recNote0000000024"])  # one on the next page, one on the last
    notes.create({"Text": "late"})
    rest = [record for page in pages for record in page]
    seen = [r["fields"]["Text"] for r in first + rest]
    assert seen == [f"note {i:02d}" for i in range(25) if i not in (10, 24)]


def test_page_size_over_100_is_refused(api: Api) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        api.table(BASE, "Notes").all(page_size=101)
    status, body = _error(caught)
    assert status == 422 and body["error"]["type"] == "INVALID_PAGE_SIZE_ARGUMENT"


def test_sort_fields_view_and_field_ids(api: Api) -> None:
    notes = api.table(BASE, "Notes")
    records = notes.all(sort=["-Rank", "Text"], fields=["Text", "Rank"], view="Grid view")
    keys = [(-r["fields"].get("Rank", 0), r["fields"]["Text"]) for r in records]
    assert keys == sorted(keys) and len(records) == 25
    by_id = notes.all(fields=[fid("Text")], use_field_ids=True, max_records=2)
    assert [set(r["fields"]) for r in by_id] == [{fid("Text")}, {fid("Text")}]
    with pytest.raises(requests.HTTPError) as caught:
        notes.all(view="No such view")
    assert _error(caught)[0] == 422
    with pytest.raises(requests.HTTPError) as caught:
        notes.all(fields=["Nope"])
    assert _error(caught) == (422, {"error": {"type": "UNKNOWN_FIELD_NAME", "message": 'Unknown field name: "Nope"'}})


def test_filter_by_formula_from_pyairtable_builders(test_sandbox: Sandbox, api: Api) -> None:
    people = api.table(BASE, "People")
    assert [r["id"] for r in people.all(formula=match({"Status": "Todo"}))] == [ANN]
    assert {r["id"] for r in people.all(formula=AND(GT(Field("Age"), 10), Field("Team title")))} == {ANN, CY}
    test_sandbox.clock.advance(3600)
    since = datetime.fromtimestamp(test_sandbox.clock.time() - 60, tz=UTC)
    people.update(BOB, {"Age": 1})
    assert [r["id"] for r in people.all(formula=IS_AFTER(LAST_MODIFIED_TIME(), since))] == [BOB]
    with pytest.raises(requests.HTTPError) as caught:
        people.all(formula=match({"Nope": 1}))
    status, body = _error(caught)
    assert status == 422 and body["error"]["type"] == "INVALID_FILTER_BY_FORMULA"
    assert "Unknown field names: Nope" in body["error"]["message"]


def test_long_formula_falls_back_to_post_list_records(test_sandbox: Sandbox, api: Api) -> None:
    requests_seen: list[tuple[str, str]] = []
    api.session.hooks["response"].append(lambda r, *a, **k: requests_seen.append((r.request.method, r.request.url)))
    notes = api.table(BASE, "Notes")
    wanted = [f"recNote{i:010d}" for i in range(0, 25, 2)]
    decoys = [f"recDecoy{i:09d}" for i in range(700)]  # unknown ids make the URL exceed 16,000 characters
    found = notes.all(formula=OR(*[RECORD_ID().eq(record_id) for record_id in wanted + decoys]), page_size=5)
    assert sorted(r["id"] for r in found) == wanted
    assert all(method == "POST" and url.split("?")[0].endswith("/listRecords") for method, url in requests_seen)
    assert len(requests_seen) == 3  # 13 records in pages of 5, offsets sent in the POST body


def test_cell_format_string_and_comment_count(api: Api) -> None:
    people = api.table(BASE, "People")
    with pytest.raises(requests.HTTPError) as caught:
        people.all(cell_format="string")
    assert _error(caught)[0] == 422
    ann = people.first(
        formula=match({"Name": "Ann"}), cell_format="string", time_zone="UTC", user_locale="en-us", count_comments=True
    )
    assert ann is not None and ann["commentCount"] == 0
    assert ann["fields"]["Team"] == "Red" and ann["fields"]["Age"] == "30"


def test_get_one_and_not_found_errors(test_sandbox: Sandbox, api: Api) -> None:
    assert api.table(BASE, "People").get(ANN)["fields"]["Name"] == "Ann"
    assert api.table(BASE, "Teams").get(ANN)["fields"]["Name"] == "Ann"  # Airtable searches the whole base
    assert api.table(BASE, SLASHED_NAME).all()[0]["fields"] == {"Label": "found me"}  # quoted with %2F
    with pytest.raises(requests.HTTPError) as caught:
        api.table(BASE, "People").get("recDoesNotExist01")
    assert _error(caught)[0] == 403
    assert _error(caught)[1]["error"]["type"] == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
    with pytest.raises(requests.HTTPError) as caught:
        api.table(BASE, "Nope").all()
    assert _error(caught)[0] == 403
    with pytest.raises(requests.HTTPError) as caught:
        api.table("appDoesNotExist01", "People").all()
    assert _error(caught) == (404, {"error": "NOT_FOUND"})
    assert _raw(test_sandbox, "GET", "/v0/no/such/route/here").json() == {"error": "NOT_FOUND"}


# --------------------------------------------------------------------------------------------- writing


def test_create_single_and_batch_with_typecast(test_sandbox: Sandbox, api: Api) -> None:
    people = api.table(BASE, "People")
    one = people.create(
        {"Name": "Dee", "Age": 20, "Active": True, "Born": "1990-05-01", "Seen": "2024-01-02T03:04:05Z"}
    )
    assert one["fields"]["Seen"] == "2024-01-02T03:04:05.000Z" and one["fields"]["Born"] == "1990-05-01"
    assert one["fields"]["Created by"] == API_USER and one["fields"]["Number"] == 4
    batch = people.batch_create([{"Name": f"P{i}", "Active": False} for i in range(12)])  # pyairtable chunks 10 + 2
    assert len(batch) == 12 and all("Active" not in r["fields"] for r in batch)
    cast = people.create({"Name": "Eve", "Age": "42", "Status": "Blocked", "Tags": "red, green"}, typecast=True)
    assert cast["fields"]["Age"] == 42 and cast["fields"]["Status"] == "Blocked"
    assert cast["fields"]["Tags"] == ["red", "green"]
    schema = api.base(BASE).schema(force=True).table("People")
    assert "Blocked" in [choice.name for choice in schema.field("Status").options.choices]


def test_more_than_ten_records_per_write_is_refused(test_sandbox: Sandbox) -> None:
    body = {"records": [{"fields": {"Text": str(i)}} for i in range(11)]}
    response = _raw(test_sandbox, "POST", f"/v0/{BASE}/Notes", json=body)
    assert response.status_code == 422 and response.json()["error"]["type"] == "INVALID_RECORDS"
    assert len(test_sandbox.store.list_records(BASE, NOTES).records) == 25  # nothing was created


@pytest.mark.parametrize(
    ("fields", "error_type", "message"),
    [
        ({"Nope": 1}, "UNKNOWN_FIELD_NAME", 'Unknown field name: "Nope"'),
        (
            {"Age next year": 3},
            "INVALID_VALUE_FOR_COLUMN",
            'Field "Age next year" cannot accept a value because the field is computed',
        ),
        ({"Status": "Blocked"}, "INVALID_MULTIPLE_CHOICE_OPTIONS", None),
        ({"Age": "forty"}, "INVALID_VALUE_FOR_COLUMN", 'Field "Age" cannot accept the provided value'),
        ({"Born": "21/4/2026"}, "INVALID_VALUE_FOR_COLUMN", 'Cannot parse date value "21/4/2026" for field Born'),
        ({"Team": ["recDoesNotExist01"]}, "ROW_DOES_NOT_EXIST", None),
    ],
)
def test_invalid_cells_are_refused_with_airtable_errors(
    test_sandbox: Sandbox, api: Api, fields: dict, error_type: str, message: str | None
) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        api.table(BASE, "People").create({"Name": "Zed", **fields})
    status, body = _error(caught)
    assert status == 422 and body["error"]["type"] == error_type
    if message:
        assert body["error"]["message"] == message
    assert error_type in caught.value.args[-1]  # pyairtable appends Airtable's error to the exception
    assert test_sandbox.store.count_records(BASE, PEOPLE) == 3


def test_update_replace_and_last_modified(test_sandbox: Sandbox, api: Api) -> None:
    people = api.table(BASE, "People")
    test_sandbox.clock.advance(120)
    updated = people.update(ANN, {"Age": 31})
    assert updated["fields"]["Age next year"] == 32 and updated["fields"]["Status"] == "Todo"
    assert updated["fields"]["Modified"] > updated["fields"]["Created"]
    assert updated["fields"]["Modified by"] == API_USER
    assert updated["fields"]["Status changed"] == "2025-01-01T00:00:01.000Z"  # only a Status change moves it
    status_changed = people.update(ANN, {"Status": "Done"})["fields"]["Status changed"]
    assert status_changed == updated["fields"]["Modified"] or status_changed > updated["fields"]["Modified"]
    replaced = people.update(ANN, {"Name": "Ann B"}, replace=True)
    assert {k for k in replaced["fields"] if k in ("Age", "Status", "Team")} == set()  # PUT cleared them
    assert replaced["fields"]["Number"] == 1  # assigned values survive a PUT
    batch = people.batch_update([{"id": BOB, "fields": {"Age": 5}}, {"id": CY, "fields": {"Email": "c@y.nl"}}])
    assert [r["fields"].get("Age") for r in batch] == [5, 45]
    with pytest.raises(requests.HTTPError) as caught:
        people.batch_update([{"id": "recDoesNotExist01", "fields": {"Age": 1}}])
    assert _error(caught)[1]["error"]["type"] == "ROW_DOES_NOT_EXIST"
    with pytest.raises(requests.HTTPError) as caught:
        people.update("recDoesNotExist01", {"Age": 1})
    assert _error(caught)[0] == 403


def test_upsert_creates_and_updates_by_merge_fields(test_sandbox: Sandbox, api: Api) -> None:
    people = api.table(BASE, "People")
    result = people.batch_upsert(
        [{"fields": {"Name": "Ann", "Age": 33}}, {"fields": {"Name": "Fay", "Age": 9}}], key_fields=["Name"]
    )
    assert result["updatedRecords"] == [ANN] and len(result["createdRecords"]) == 1
    assert [r["fields"]["Age"] for r in result["records"]] == [33, 9]
    assert people.get(ANN)["fields"]["Status"] == "Todo"  # PATCH-upsert keeps other cells
    again = people.batch_upsert([{"fields": {"Name": "Fay", "Age": 10}}], key_fields=["Name"])
    assert again["updatedRecords"] == result["createdRecords"] and again["createdRecords"] == []
    people.create({"Name": "Fay"})
    with pytest.raises(requests.HTTPError) as caught:
        people.batch_upsert([{"fields": {"Name": "Fay", "Age": 11}}], key_fields=["Name"])
    assert _error(caught)[0] == 422  # two records match: the whole request fails


def test_delete_single_and_batch(test_sandbox: Sandbox, api: Api) -> None:
    notes = api.table(BASE, "Notes")
    assert notes.delete("recNote0000000000") == {"deleted": True, "id": "recNote0000000000"}
    deleted = notes.batch_delete([f"recNote{i:010d}" for i in range(1, 13)])
    assert len(deleted) == 12 and all(d["deleted"] for d in deleted)
    assert len(notes.all()) == 12
    with pytest.raises(requests.HTTPError) as caught:
        notes.batch_delete(["recNote0000000020", "recDoesNotExist01"])
    assert _error(caught) == (
        404,
        {"error": {"type": "NOT_FOUND", "message": 'Could not find a record with ID "recDoesNotExist01".'}},
    )
    assert len(notes.all()) == 12  # the failed batch deleted nothing
    with pytest.raises(requests.HTTPError) as caught:
        notes.delete("recDoesNotExist01")
    assert _error(caught)[0] == 403


def test_two_way_links_follow_writes_and_deletes(api: Api) -> None:
    people, teams = api.table(BASE, "People"), api.table(BASE, "Teams")
    people.update(CY, {"Team": [RED, BLUE]})
    assert teams.get(RED)["fields"]["Members"] == [ANN, BOB, CY]
    assert teams.get(RED)["fields"]["Age total"] == 75
    teams.update(BLUE, {"Members": []})
    assert people.get(CY)["fields"]["Team"] == [RED] and people.get(CY)["fields"]["Team title"] == ["Red"]
    people.delete(ANN)
    red = teams.get(RED)["fields"]
    assert red["Members"] == [BOB, CY] and red["Member count"] == 2


def test_each_change_emits_one_transaction(test_sandbox: Sandbox, api: Api, transactions: list[Transaction]) -> None:
    api.table(BASE, "People").update(CY, {"Team": [RED]})
    (tx,) = transactions
    assert tx.source == "publicApi" and tx.user is not None and tx.user["id"] == API_USER["id"]
    # Base-wide and large like Airtable's, never a small count a client could mistake for a payload number.
    assert TIMESTAMP.match(tx.timestamp) and tx.base_transaction_number >= 100_000
    changed = {(table.table_id, record.record_id): record for table in tx.tables for record in table.changed}
    cy = changed[(PEOPLE, CY)]
    assert cy.current[fid("Team")] == [RED] and cy.previous[fid("Team")] == [BLUE]
    assert cy.current[fid("TeamTitle")] == ["Red"] and cy.unchanged[fid("Name")] == "Cy"
    assert changed[(TEAMS, RED)].current[fid("Members")] == [ANN, BOB, CY]
    assert changed[(TEAMS, BLUE)].current[fid("Members")] is None  # cleared cells are present as None
    _raw(test_sandbox, "POST", f"/_sandbox/bases/{BASE}/tables/Notes/records", json={"fields": {"Text": "UI"}})
    assert transactions[1].source == "client" and transactions[1].base_transaction_number > tx.base_transaction_number
    assert transactions[1].tables[0].created[0].cells == {fid("Text"): "UI"}
    api.table(BASE, "People").update(CY, {"Team": [RED]})  # no actual change: no transaction
    api.table(BASE, "Notes").delete("recNote0000000003")
    numbers = [t.base_transaction_number for t in transactions]
    assert len(numbers) == 3 and numbers == sorted(set(numbers))
    assert transactions[2].tables[0].destroyed == ["recNote0000000003"]


# --------------------------------------------------------------------------------------------- metadata


def _keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


def test_meta_api_matches_airtable_samples(test_sandbox: Sandbox, api: Api) -> None:
    bases = _raw(test_sandbox, "GET", "/v0/meta/bases").json()
    sample_bases = json.loads((SAMPLES / "Bases.json").read_text())
    assert _keys(bases) == _keys(sample_bases) and _keys(bases["bases"][0]) == _keys(sample_bases["bases"][0])
    assert bases["bases"] == [{"id": BASE, "name": "Sandbox tests", "permissionLevel": "create"}]
    tables = _raw(test_sandbox, "GET", f"/v0/meta/bases/{BASE}/tables").json()["tables"]
    sample = json.loads((SAMPLES / "BaseSchema.json").read_text())["tables"][0]
    assert _keys(tables[0]) == _keys(sample) - {"description"}
    assert _keys(tables[0]["views"][0]) == _keys(sample["views"][0])  # no visibleFieldIds unless asked
    assert "_sandbox" not in json.dumps(tables)  # private keys never leave the sandbox
    link = next(f for f in tables[0]["fields"] if f["name"] == "Team")
    assert _keys(link["options"]) == _keys(sample["fields"][2]["options"])
    schema = api.base(BASE).schema()  # pyairtable parses it (and asks for visibleFieldIds)
    assert schema.table("People").field(fid("Age")).name == "Age"
    assert schema.table("People").views[0].visible_field_ids[0] == fid("Name")
    assert api.whoami() == {"id": API_USER["id"]}
    assert _raw(test_sandbox, "GET", "/v0/meta/bases/appDoesNotExist01/tables").status_code == 403


# --------------------------------------------------------------------------------------------- admin


def test_admin_edits_and_schema_drift(test_sandbox: Sandbox, api: Api) -> None:
    prefix = f"/_sandbox/bases/{BASE}/tables/People"
    created = _raw(test_sandbox, "POST", f"{prefix}/records", json={"records": [{"fields": {"Name": "Gus"}}]})
    gus = created.json()["records"][0]
    assert gus["fields"]["Created by"] == UI_USER
    _raw(test_sandbox, "PATCH", f"{prefix}/records/{gus['id']}", json={"fields": {"Age": 7}})
    assert api.table(BASE, "People").get(gus["id"])["fields"]["Age"] == 7
    added = _raw(test_sandbox, "POST", f"{prefix}/fields", json={"name": "Nickname", "type": "singleLineText"})
    field_id = added.json()["id"]
    assert re.match(r"^fld[0-9A-Za-z]{14}$", field_id)
    api.table(BASE, "People").update(ANN, {"Nickname": "Annie"})
    renamed = _raw(test_sandbox, "PATCH", f"{prefix}/fields/{field_id}", json={"name": "Alias"})
    assert renamed.json()["name"] == "Alias"
    assert api.table(BASE, "People").get(ANN)["fields"]["Alias"] == "Annie"  # data follows the field id
    assert _raw(test_sandbox, "DELETE", f"{prefix}/records/{gus['id']}").json() == {"deleted": True, "id": gus["id"]}
    stats = _raw(test_sandbox, "GET", "/_sandbox/stats").json()
    assert stats["records"][BASE][PEOPLE] == 3 and stats["bases"][BASE]["served"] >= 3


def test_hostile_table_names_route_by_name(airtable_api: Api) -> None:
    base = airtable_api.base(demo.HOSTILE_BASE_ID)
    for table in base.schema().tables:
        by_name = base.table(table.name).all()  # pyairtable percent-quotes the name into one path segment
        assert by_name and by_name == base.table(table.id).all()


def test_demo_base_serves_every_table(airtable_api: Api, sandbox: Sandbox) -> None:
    base = airtable_api.base(demo.DEMO_BASE_ID)
    for table in base.schema().tables:
        records = base.table(table.id).all(max_records=20)
        assert records and all(TIMESTAMP.match(r["createdTime"]) for r in records)
        types = {field.id: field.type for field in table.fields}
        by_id = base.table(table.id).all(use_field_ids=True, max_records=20)
        assert {types[field_id] for r in by_id for field_id in r["fields"]} <= set(types.values())


def test_collaborator_cells_are_written_by_id_or_email(sandbox_factory: SandboxFactory) -> None:
    """A multiple-collaborators cell takes users by id or e-mail and answers them whole (an attribute of the cell
    writer once shadowed its own method here, so every such write failed with a 500)."""
    sandbox = sandbox_factory()
    beliefs = airtable_api_for(sandbox).table(demo.DEMO_BASE_ID, "persoonlijke_overtuigingen")
    known = next(r["fields"]["begeleiders"] for r in beliefs.all() if r["fields"].get("begeleiders"))
    by_id = beliefs.create({"omschrijving": "x", "begeleiders": [{"id": known[0]["id"]}]})
    assert by_id["fields"]["begeleiders"] == [known[0]]
    by_email = beliefs.create({"omschrijving": "y", "begeleiders": [{"email": known[0]["email"]}]})
    assert by_email["fields"]["begeleiders"] == [known[0]]
    with pytest.raises(requests.HTTPError) as refused:
        beliefs.create({"omschrijving": "z", "begeleiders": [{"email": "nobody@example.invalid"}]})
    assert refused.value.response.json()["error"]["type"] == "INVALID_VALUE_FOR_COLUMN"
