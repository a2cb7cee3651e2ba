"""Who may read, and what bad input gets: Airtable's 401/403 bodies, clear 4xx for hostile requests, nothing touched."""

from __future__ import annotations

import json

import psycopg
import pytest
import requests

from airtable_pg.api.auth import Authenticator
from airtable_pg.postgres import api_tokens
from airtable_pg.postgres.database import libpq_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg_tests.api.conftest import Served
from airtable_pg_tests.sync_helpers import sandbox_runtime
from airtable_sandbox.demo import DEMO_BASE_ID

AUTH_REQUIRED = {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}
USERS = f"/v0/{DEMO_BASE_ID}/users"


def call(
    served: Served, method: str, path: str, token: str | None, *, headers: dict | None = None, **kwargs: object
) -> requests.Response:
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, served.api_url + path, headers=headers, timeout=30, **kwargs)


def mirror_counts(served: Served) -> dict[str, int]:
    with psycopg.connect(libpq_url(served.database_url)) as conn:
        return {
            t.mirror: conn.execute(
                f'select count(*), sum(hashtext(fields::text)) from airtable."{t.mirror}"'
            ).fetchone()
            for t in served.spec.bases["coaching"].tables.values()
        }


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer wrong", "Bearer " + "x" * 5000, "bearer patX.y"],
)
def test_a_missing_or_wrong_token_gets_airtables_401(demo_served: Served, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(demo_served.api_url + USERS, headers=headers, timeout=30)
    assert (response.status_code, response.json()) == (401, AUTH_REQUIRED)


def test_airtables_own_token_is_not_ours(demo_served: Served) -> None:
    response = call(demo_served, "GET", USERS, demo_served.sandbox.token)
    assert response.status_code == 401


def test_a_token_sees_only_its_bases(demo_served: Served) -> None:
    other = demo_served.issue("other base only", ["appSomethingElse1"])
    response = call(demo_served, "GET", USERS, other)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
    assert call(demo_served, "GET", USERS, demo_served.token).status_code == 200


def test_a_read_token_cannot_write(demo_served: Served) -> None:
    before = mirror_counts(demo_served)
    for method, path in [("POST", USERS), ("PATCH", USERS), ("DELETE", USERS + "/recAAAAAAAAAAAAAA")]:
        response = call(demo_served, method, path, demo_served.token, json={"fields": {"name": "x"}})
        assert response.status_code == 403, (method, response.text)
        assert response.json()["error"]["type"] == "INVALID_PERMISSIONS"
    assert mirror_counts(demo_served) == before


def test_revoked_tokens_stop_working_and_tokens_are_stored_only_as_digests(demo_served: Served) -> None:
    token = demo_served.issue("revoked soon", [DEMO_BASE_ID])
    assert call(demo_served, "GET", USERS, token).status_code == 200
    runtime = sandbox_runtime(demo_served.sandbox, demo_served.database_url, demo_served.spec)
    with transaction(runtime.db) as cur:
        cur.execute("select * from airtable_sync.api_token")
        assert token not in json.dumps(cur.fetchall(), default=str)  # neither whole nor the secret part
        assert token.split(".")[1] not in json.dumps(cur.fetchall(), default=str)
        assert api_tokens.revoke_token(cur, "revoked soon")
    with transaction(runtime.db) as cur:
        assert api_tokens.token_by_secret(cur, token) is None


def test_the_token_cache_forgets_within_its_lifetime() -> None:
    now = [0.0]
    answers: list[object] = [object(), None]
    authenticator = Authenticator(lambda text: answers.pop(0), clock=lambda: now[0])  # type: ignore[arg-type,return-value]
    assert authenticator.remembered("Bearer abc") is None  # never verified: the caller looks it up (off the loop)
    token = authenticator.token("Bearer abc")
    assert token is not None
    now[0] = 4.0
    assert authenticator.token("Bearer abc") is token  # cached: no lookup
    assert authenticator.remembered("Bearer abc") is token
    now[0] = 6.0
    assert authenticator.remembered("Bearer abc") is None  # too old to vouch for without a lookup
    with pytest.raises(Exception, match="AUTHENTICATION_REQUIRED"):
        authenticator.token("Bearer abc")  # looked up again: revoked
    with pytest.raises(Exception, match="AUTHENTICATION_REQUIRED"):
        authenticator.remembered("Bearer abc")  # and known to be bad, without a lookup
    with pytest.raises(Exception, match="AUTHENTICATION_REQUIRED"):
        authenticator.remembered("Basic abc")  # not a bearer token at all
    assert answers == []  # two lookups in all


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        (b"{not json", 400, "INVALID_REQUEST_BODY"),
        (b"[" * 10_000 + b"]" * 10_000, 400, "INVALID_REQUEST_BODY"),
        (json.dumps({"filterByFormula": "(" * 10_000 + "1" + ")" * 10_000}).encode(), 422, "INVALID_FILTER_BY_FORMULA"),
        (json.dumps({"filterByFormula": "1 + " * 250_000 + "1"}).encode(), 422, "INVALID_FILTER_BY_FORMULA"),
        (json.dumps({"filterByFormula": "'" + "x" * 2_000_000 + "'"}).encode(), 413, "REQUEST_TOO_LARGE"),
        (json.dumps({"pageSize": "ten"}).encode(), 422, "INVALID_PAGE_SIZE_ARGUMENT"),
        (json.dumps({"sort": "name"}).encode(), 422, "INVALID_REQUEST_UNKNOWN"),
        (json.dumps({"fields": [1, 2]}).encode(), 422, "INVALID_REQUEST_UNKNOWN"),
        (json.dumps({"offset": "itr0000/garbage!"}).encode(), 422, "INVALID_OFFSET_VALUE"),
        (
            json.dumps({"filterByFormula": "{name}'; DELETE FROM airtable.users; --"}).encode(),
            422,
            "INVALID_FILTER_BY_FORMULA",
        ),
        (json.dumps({"filterByFormula": '{users"; DROP TABLE x; --} = 1'}).encode(), 422, "INVALID_FILTER_BY_FORMULA"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_touches_nothing(
    demo_served: Served, body: bytes, status: int, error_type: str
) -> None:
    before = mirror_counts(demo_served)
    response = call(
        demo_served,
        "POST",
        USERS + "/listRecords",
        demo_served.token,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text[:300]
    assert response.json()["error"]["type"] == error_type
    assert mirror_counts(demo_served) == before
    assert call(demo_served, "GET", "/healthz", None).json() == {"status": "ok"}


def test_offsets_are_bound_to_their_listing(demo_served: Served) -> None:
    first = call(demo_served, "GET", USERS, demo_served.token, params={"pageSize": 5}).json()
    resumed = call(demo_served, "GET", USERS, demo_served.token, params={"pageSize": 5, "offset": first["offset"]})
    assert resumed.status_code == 200 and len(resumed.json()["records"]) == 5
    other = call(
        demo_served,
        "GET",
        USERS,
        demo_served.token,
        params={"pageSize": 5, "offset": first["offset"], "filterByFormula": "{active}"},
    )
    assert (other.status_code, other.json()) == (422, {"error": {"type": "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"}})


def test_health(demo_served: Served) -> None:
    assert call(demo_served, "GET", "/healthz", None).json() == {"status": "ok"}
