"""What the mirror cannot know (a view, string cells, comment counts, LAST_MODIFIED_TIME()): Airtable answers it,
passed through with airtable_pg's client; without an Airtable token, a clear 422 — never a different answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pyairtable import Api

from airtable_pg.receiver.server import ReceiverServer
from airtable_pg_tests.api import compare
from airtable_pg_tests.api.conftest import Served
from airtable_sandbox.demo import DEMO_BASE_ID

NOT_KNOWN = [
    {"view": "Grid view"},
    {"view": "no such view"},
    {"cell_format": "string", "time_zone": "Europe/Amsterdam", "user_locale": "nl"},
    {"count_comments": True},
    {"formula": "IS_AFTER(LAST_MODIFIED_TIME(), '2020-01-01')"},
    {"formula": "AND({active}, LAST_MODIFIED_TIME() < NOW())", "page_size": 5},
]


@pytest.mark.parametrize("options", NOT_KNOWN)
def test_airtable_answers_what_the_mirror_cannot_know(demo_served: Served, options: dict) -> None:
    answer = compare.assert_same(demo_served, DEMO_BASE_ID, "users", **options)
    assert "records" in answer or answer["status"] == 422


def test_listrecords_by_post_is_passed_through_too(demo_served: Served) -> None:
    body = {"view": "Grid view", "filterByFormula": "{active}", "pageSize": 3}
    answers = [
        requests.post(f"{url}/v0/{DEMO_BASE_ID}/users/listRecords", json=body, headers=headers, timeout=30).json()
        for url, headers in [
            (demo_served.api_url, {"Authorization": f"Bearer {demo_served.token}"}),
            (demo_served.sandbox.url, {"Authorization": f"Bearer {demo_served.sandbox.token}"}),
        ]
    ]
    assert answers[0]["records"] == answers[1]["records"] and len(answers[0]["records"]) == 3
    assert "offset" in answers[0] and "offset" in answers[1]  # each Airtable's own iterator


@pytest.fixture
def without_airtable(demo_served: Served) -> Iterator[Api]:
    """The same mirror behind an API that has no Airtable token (reads only)."""
    from airtable_pg.api.app import build_app

    with ReceiverServer(build_app(demo_served.spec, demo_served.database_url, None)) as server:
        yield Api(demo_served.issue("no airtable", [DEMO_BASE_ID], can_write=True), endpoint_url=server.url)


@pytest.mark.parametrize("options", NOT_KNOWN[:1] + NOT_KNOWN[2:])
def test_without_an_airtable_token_it_is_refused_clearly(without_airtable: Api, options: dict) -> None:
    with pytest.raises(requests.HTTPError) as refused:
        without_airtable.table(DEMO_BASE_ID, "users").all(**options)
    assert refused.value.response.status_code == 422
    error = refused.value.response.json()["error"]
    assert error["type"] == "NOT_SERVED_FROM_MIRROR" and "Airtable" in error["message"]


def test_without_an_airtable_token_reads_work_and_writes_are_refused(
    without_airtable: Api, demo_served: Served
) -> None:
    assert (
        without_airtable.table(DEMO_BASE_ID, "users").all() == demo_served.mirror().table(DEMO_BASE_ID, "users").all()
    )
    with pytest.raises(requests.HTTPError) as refused:
        without_airtable.table(DEMO_BASE_ID, "users").create({"name": "x"})
    assert refused.value.response.json()["error"]["type"] == "NOT_SERVED_FROM_MIRROR"
