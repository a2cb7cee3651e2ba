"""What the mirror does not answer is passed through to Airtable (metadata, webhooks, comments), under the app's
token's scope, through airtable_pg's own client: the app never holds airtable_pg's Airtable token."""

from __future__ import annotations

import pytest
import requests
from pyairtable import Api

from airtable_pg_tests.api.conftest import Served
from airtable_sandbox.demo import DEMO_BASE_ID


def test_the_base_schema_is_airtables(demo_served: Served) -> None:
    mirror = demo_served.mirror().base(DEMO_BASE_ID).schema().model_dump()
    assert mirror == demo_served.airtable().base(DEMO_BASE_ID).schema().model_dump()
    assert demo_served.mirror().table(DEMO_BASE_ID, "users").schema().name == "users"


def test_the_list_of_bases_is_the_tokens_own(demo_served: Served) -> None:
    listed = [base.id for base in demo_served.mirror().bases()]
    assert listed == [DEMO_BASE_ID]
    assert len(demo_served.airtable().bases()) > 1  # the sandbox's token sees the hostile-names base as well


def test_webhooks_are_listed_through(demo_served: Served) -> None:
    spec = {"options": {"filters": {"dataTypes": ["tableData"]}}}
    demo_served.airtable().base(DEMO_BASE_ID).add_webhook("https://example.com/hook", spec)
    mirror = [hook.model_dump() for hook in demo_served.mirror().base(DEMO_BASE_ID).webhooks()]
    assert mirror == [hook.model_dump() for hook in demo_served.airtable().base(DEMO_BASE_ID).webhooks()]
    assert len(mirror) == 1


def test_schema_writes_need_a_write_token_and_reach_airtable(demo_served: Served) -> None:
    with pytest.raises(requests.HTTPError) as refused:
        demo_served.mirror().table(DEMO_BASE_ID, "methods").create_field("notes from the api", "multilineText")
    assert refused.value.response.status_code == 403
    api = Api(demo_served.issue("schema writer", [DEMO_BASE_ID], can_write=True), endpoint_url=demo_served.api_url)
    created = api.table(DEMO_BASE_ID, "methods").create_field("notes from the api", "multilineText")
    fields = demo_served.airtable().table(DEMO_BASE_ID, "methods").schema(force=True).fields
    assert created.id in [field.id for field in fields]


def test_other_bases_are_not_passed_through(demo_served: Served) -> None:
    response = requests.get(
        f"{demo_served.api_url}/v0/meta/bases/appHostileNames01/tables",
        headers={"Authorization": f"Bearer {demo_served.token}"},
        timeout=30,
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
