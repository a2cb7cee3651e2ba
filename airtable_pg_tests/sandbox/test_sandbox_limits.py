"""Auth, Airtable's rate limits, injected latency and 5xx faults, and the server's error handling."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from pyairtable import Api, retry_strategy

from airtable_sandbox import demo
from airtable_sandbox.clock import Clock
from airtable_sandbox.http import Request, Response, Route
from airtable_sandbox.limits import Limits
from airtable_sandbox.pytest_plugin import SandboxFactory, airtable_api_for
from airtable_sandbox.server import Sandbox, SandboxApp

BASE = demo.DEMO_BASE_ID
RATE_LIMITED = {"error": {"type": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}}
RETRIABLE = {
    "error": {
        "type": "RETRIABLE_ERROR",
        "message": "Server encountered an error while processing your request, and it is safe to retry the request",
    }
}


def _session(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sandbox.token}"
    return session


def _list_users(session: requests.Session, sandbox: Sandbox, base: str = BASE) -> requests.Response:
    table = "users" if base == BASE else demo.hostile_schema()[0]["id"]
    return session.get(f"{sandbox.url}/v0/{base}/{table}", params={"pageSize": 1}, timeout=10)


def _stats(session: requests.Session, sandbox: Sandbox) -> dict[str, Any]:
    return session.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()


@pytest.mark.parametrize("header", [None, "Bearer patWrongToken", "Basic dXNlcjpwYXNz", "Bearer"])
def test_anything_but_the_token_is_401(sandbox: Sandbox, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for path in (f"/v0/{BASE}/users", "/v0/meta/bases", "/_sandbox/stats"):
        response = requests.get(sandbox.url + path, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}


def test_more_than_five_per_second_locks_the_base_out(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=5, penalty_seconds=30)
    session = _session(sandbox)
    assert [_list_users(session, sandbox).status_code for _ in range(5)] == [200] * 5
    refused = _list_users(session, sandbox)
    assert refused.status_code == 429 and refused.json() == RATE_LIMITED
    assert "Retry-After" not in refused.headers
    assert _list_users(session, sandbox).status_code == 429  # the lock-out holds
    assert _list_users(session, sandbox, demo.HOSTILE_BASE_ID).status_code == 200  # limits are per base
    stats = _stats(session, sandbox)["bases"][BASE]
    assert stats == {"requests": 7, "served": 5, "rate_limited": 2, "faults_5xx": 0, "peak_per_second": 5}
    sandbox.clock.advance(29)
    assert _list_users(session, sandbox).status_code == 429
    sandbox.clock.advance(2)  # the penalty is measured on the sandbox clock
    assert _list_users(session, sandbox).status_code == 200


def test_pyairtable_default_retry_gets_past_a_short_penalty(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=5, penalty_seconds=0.5)
    table = airtable_api_for(sandbox).table(BASE, "users")  # default retry strategy: 429 is retried
    records = [table.first() for _ in range(12)]
    assert all(record is not None for record in records)
    stats = sandbox.stats()["bases"][BASE]
    assert stats["rate_limited"] >= 1 and stats["served"] == 12 and stats["peak_per_second"] <= 5


def test_without_retries_pyairtable_sees_the_429(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=2, penalty_seconds=30)
    table = airtable_api_for(sandbox, retry_strategy=None).table(BASE, "users")
    table.first()
    table.first()
    with pytest.raises(requests.HTTPError) as caught:
        table.first()
    assert caught.value.response.status_code == 429 and caught.value.response.json() == RATE_LIMITED


def test_webhook_routes_count_toward_the_base_limit(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=5, penalty_seconds=30)
    session = _session(sandbox)
    hooks = [session.get(f"{sandbox.url}/v0/bases/{BASE}/webhooks", timeout=10).status_code for _ in range(5)]
    assert hooks == [200] * 5
    assert _list_users(session, sandbox).status_code == 429


def test_admin_routes_are_never_limited_nor_delayed(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=1, penalty_seconds=30, latency_ms=300)
    session = _session(sandbox)
    _list_users(session, sandbox)
    assert _list_users(session, sandbox).status_code == 429
    started = time.monotonic()
    assert all(session.get(f"{sandbox.url}/_sandbox/stats", timeout=10).ok for _ in range(10))
    assert time.monotonic() - started < 2.0  # ten admin calls without the 300 ms latency (with it: 3 s or more)


def test_token_limit_spans_bases(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(rate_limit_per_second=None, token_rate_limit_per_second=3, penalty_seconds=30)
    session = _session(sandbox)
    codes = [_list_users(session, sandbox, base).status_code for base in (BASE, demo.HOSTILE_BASE_ID, BASE)]
    assert codes == [200, 200, 200]
    assert _list_users(session, sandbox, demo.HOSTILE_BASE_ID).status_code == 429
    assert session.get(f"{sandbox.url}/v0/meta/bases", timeout=10).status_code == 429
    assert _stats(session, sandbox)["token"]["rate_limited"] == 2


def test_injected_503_changes_nothing(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(fault_5xx_ratio=1.0)
    session = _session(sandbox)
    before = sandbox.store.count_records(BASE, "users")
    response = session.post(f"{sandbox.url}/v0/{BASE}/users", json={"fields": {"name": "Nobody"}}, timeout=10)
    assert response.status_code == 503 and response.json() == RETRIABLE
    assert sandbox.store.count_records(BASE, "users") == before
    assert _stats(session, sandbox)["bases"][BASE]["faults_5xx"] == 1
    config = session.post(f"{sandbox.url}/_sandbox/config", json={"fault_5xx_ratio": 0}, timeout=10).json()
    assert config["fault_5xx_ratio"] == 0
    assert session.post(f"{sandbox.url}/v0/{BASE}/users", json={"fields": {"name": "Somebody"}}, timeout=10).ok


def test_pyairtable_retrying_503_gets_through_partial_faults(sandbox_factory: SandboxFactory) -> None:
    # limits are not the subject; seeded, so the same requests fail every run
    sandbox = sandbox_factory(fault_5xx_ratio=0.5, fault_seed=7, token_rate_limit_per_second=None)
    strategy = retry_strategy(status_forcelist=(503,), backoff_factor=0, total=40)
    table = Api(sandbox.token, endpoint_url=sandbox.url, retry_strategy=strategy).table(BASE, "users")
    # 40 users in the 200-record demo, one per page: 40 served requests make "no fault at all" a
    # 1-in-10^12 event (four pages made it 1 in 16, and the test flaked)
    assert len(list(table.iterate(page_size=1))) == 40
    stats = sandbox.stats()["bases"][BASE]
    assert stats["served"] == 40 and stats["faults_5xx"] >= 1


def test_latency_is_added_and_concurrent_requests_overlap(sandbox_factory: SandboxFactory) -> None:
    # A latency long beside a loaded machine's scheduling delays, so overlap and sequence can't be confused.
    sandbox = sandbox_factory(latency_ms=1000)
    session = _session(sandbox)
    started = time.monotonic()
    assert _list_users(session, sandbox).ok
    assert time.monotonic() - started >= 1.0
    durations: list[float] = []

    def one_request() -> None:
        with _session(sandbox) as own:
            began = time.monotonic()
            _list_users(own, sandbox)
            durations.append(time.monotonic() - began)

    threads = [threading.Thread(target=one_request) for _ in range(5)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 5 and min(durations) >= 1.0
    assert time.monotonic() - started < 3.0  # one after the other would take at least 5.0 s


def test_jitter_stays_within_bounds_and_config_changes_at_runtime(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(latency_ms=300, jitter_ms=300)
    session = _session(sandbox)
    durations = []
    for _ in range(5):
        began = time.monotonic()
        _list_users(session, sandbox)
        durations.append(time.monotonic() - began)
    assert min(durations) >= 0.3 and max(durations) < 1.0  # 0.3–0.6 s, with room for a loaded machine
    session.post(f"{sandbox.url}/_sandbox/config", json={"latency_ms": 0, "jitter_ms": 0}, timeout=10)
    began = time.monotonic()
    _list_users(session, sandbox)
    assert time.monotonic() - began < 0.25  # no longer the 0.3 s minimum
    bad = session.post(f"{sandbox.url}/_sandbox/config", json={"latency_ms": -1}, timeout=10)
    assert bad.status_code == 422


def test_stats_reset(sandbox: Sandbox) -> None:
    session = _session(sandbox)
    _list_users(session, sandbox)
    assert _stats(session, sandbox)["bases"][BASE]["requests"] == 1
    session.post(f"{sandbox.url}/_sandbox/stats/reset", timeout=10)
    stats = _stats(session, sandbox)
    assert stats["bases"][BASE]["requests"] == 0 and stats["token"]["served"] == 0


def test_clock_advance_route(sandbox: Sandbox) -> None:
    session = _session(sandbox)
    before = sandbox.clock.time()
    answer = session.post(f"{sandbox.url}/_sandbox/clock/advance", json={"seconds": 86_400}, timeout=10).json()
    assert sandbox.clock.time() - before >= 86_400 and answer["now"].endswith("Z")


def test_bad_requests_and_unknown_routes(sandbox: Sandbox) -> None:
    session = _session(sandbox)
    garbage = session.post(f"{sandbox.url}/v0/{BASE}/users", data=b"{not json", timeout=10)
    assert garbage.status_code == 400 and garbage.json()["error"]["type"] == "INVALID_REQUEST_BODY"
    assert session.get(f"{sandbox.url}/v1/whatever", timeout=10).json() == {"error": "NOT_FOUND"}
    assert session.get(f"{sandbox.url}/v0/meta/whoami", timeout=10).ok  # the connection is still good


def test_a_crashing_handler_answers_500_and_the_app_keeps_serving() -> None:
    def crash(request: Request, params: dict[str, str]) -> Response:
        raise RuntimeError("bug")

    def fine(request: Request, params: dict[str, str]) -> Response:
        return Response(200, {"ok": True})

    limits = Limits("patTok", Clock())
    app = SandboxApp(limits, [Route("GET", "v0/crash", crash), Route("GET", "v0/fine", fine)], [])
    headers = {"Authorization": "Bearer patTok"}
    crashed = app.handle(Request("GET", "/v0/crash", {}, headers))
    assert crashed.status == 500 and crashed.body["error"]["type"] == "SERVER_ERROR"
    assert app.handle(Request("GET", "/v0/fine", {}, headers)).body == {"ok": True}
