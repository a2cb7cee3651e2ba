"""The receiver over real HTTP (uvicorn on a free port) against the migrated test database.

Notifications are built and signed by the sandbox's own delivery code (Airtable's wire format), not by the
receiver's: a mistake in the receiver's MAC rule cannot hide behind the same mistake in the test.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import requests

from airtable_pg.postgres.database import connection_pool, libpq_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import WebhookRecord, save_webhook
from airtable_pg.receiver.app import DEFAULT_MAX_BODY_BYTES, HEALTH_PATH, build_app
from airtable_pg.receiver.server import ReceiverServer
from airtable_pg_tests.waiting import stacks_if_stuck
from airtable_sandbox.webhooks.delivery import content_mac, notification_body

BASE_ID = "appReceiverTest01"
WEBHOOK_ID = "achReceiverTest01"
MAC_HEADER = "X-Airtable-Content-MAC"
UNREACHABLE_DATABASE = "postgresql://nobody@127.0.0.1:9/nowhere"  # connection refused at once


def random_secret() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def hook(database_url: str) -> WebhookRecord:
    record = WebhookRecord(
        base_id=BASE_ID,
        webhook_id=WEBHOOK_ID,
        mac_secret=random_secret(),
        cursor=1,
        notification_url=None,
        specification={"options": {"filters": {"dataTypes": ["tableData"]}}},
        expires_at=None,
    )
    with transaction(connection_pool(database_url)) as cur:
        save_webhook(cur, record)
    return record


@pytest.fixture
def serve() -> Iterator[Callable[..., ReceiverServer]]:
    started: list[ReceiverServer] = []

    def start(database_url: str, **options: Any) -> ReceiverServer:
        server = ReceiverServer(build_app(database_url, **options))
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def receiver(serve: Callable[..., ReceiverServer], database_url: str) -> ReceiverServer:
    return serve(database_url)


def ping(hook: WebhookRecord, timestamp: str = "2026-12-02T10:00:00.000Z") -> bytes:
    return notification_body(hook.base_id, hook.webhook_id, timestamp)


def signature(secret_base64: str, body: bytes) -> str:
    return content_mac(base64.b64decode(secret_base64), body)


def post(receiver: ReceiverServer, body: Any, mac: str | None = None, **headers: str) -> requests.Response:
    if mac is not None:
        headers[MAC_HEADER] = mac
    return requests.post(receiver.webhook_url, data=body, headers=headers, timeout=10)


def inbox(database_url: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute("select base_id, webhook_id, body from airtable_sync.inbox order by id").fetchall()


def test_a_signed_notification_is_stored_and_answered_200(
    receiver: ReceiverServer, hook: WebhookRecord, database_url: str
) -> None:
    body = ping(hook)
    response = post(receiver, body, signature(hook.mac_secret, body), **{"Content-Type": "application/json"})
    assert response.status_code == 200 and response.content == b""
    assert inbox(database_url) == [(BASE_ID, WEBHOOK_ID, {**_json(body)})]
    with psycopg.connect(libpq_url(database_url)) as conn:
        noted = conn.execute("select last_notification_at from airtable_sync.webhook").fetchone()[0]
    assert noted is not None


def test_duplicates_are_both_accepted_and_stored(
    receiver: ReceiverServer, hook: WebhookRecord, database_url: str
) -> None:
    body = ping(hook)
    answers = [post(receiver, body, signature(hook.mac_secret, body)).status_code for _ in range(2)]
    assert answers == [200, 200]
    assert len(inbox(database_url)) == 2


def test_refusals_store_nothing(receiver: ReceiverServer, hook: WebhookRecord, database_url: str) -> None:
    body = ping(hook)
    good = signature(hook.mac_secret, body)
    other_base = notification_body("appSomeOtherBase1", hook.webhook_id, "2026-12-02T10:00:00.000Z")
    unknown = notification_body(hook.base_id, "achNobodyKnowsMe1", "2026-12-02T10:00:00.000Z")
    tampered = ping(hook, timestamp="2026-12-02T10:00:00.001Z")
    cases = {
        "no MAC": (post(receiver, body), 401),
        "MAC of another secret": (post(receiver, body, signature(random_secret(), body)), 401),
        "MAC of another body": (post(receiver, tampered, good), 401),
        "empty MAC": (post(receiver, body, ""), 401),
        "unknown hook": (post(receiver, unknown, signature(hook.mac_secret, unknown)), 404),
        "hook of another base": (post(receiver, other_base, signature(hook.mac_secret, other_base)), 404),
        "malformed JSON": (post(receiver, b'{"webhook": ', signature(hook.mac_secret, b'{"webhook": ')), 400),
        "not an object": (post(receiver, b"[]", signature(hook.mac_secret, b"[]")), 400),
        "no base id": (post(receiver, b'{"webhook": {"id": "%s"}}' % WEBHOOK_ID.encode(), good), 400),
    }
    assert {name: response.status_code for name, (response, _) in cases.items()} == {
        name: status for name, (_, status) in cases.items()
    }
    assert inbox(database_url) == []


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(
    receiver: ReceiverServer, hook: WebhookRecord, database_url: str
) -> None:
    declared = b" " * (DEFAULT_MAX_BODY_BYTES + 1)
    assert post(receiver, declared, signature(hook.mac_secret, declared)).status_code == 413

    # Chunked, so no Content-Length to check: the receiver counts while reading.
    def chunks() -> Iterator[bytes]:
        for _ in range(DEFAULT_MAX_BODY_BYTES // 1024 + 1):
            yield b" " * 1024

    response = post(receiver, chunks(), signature(hook.mac_secret, b""))
    assert response.status_code == 413
    assert inbox(database_url) == []


def test_a_body_of_exactly_the_limit_is_read(
    serve: Callable[..., ReceiverServer], hook: WebhookRecord, database_url: str
) -> None:
    receiver = serve(database_url, max_body_bytes=512)
    body = ping(hook)
    padded = body + b" " * (512 - len(body))  # JSON allows trailing whitespace
    assert post(receiver, padded, signature(hook.mac_secret, padded)).status_code == 200
    over = padded + b" "
    assert post(receiver, over, signature(hook.mac_secret, over)).status_code == 413
    assert len(inbox(database_url)) == 1


def test_health_answers_ok_while_the_database_answers(receiver: ReceiverServer) -> None:
    response = requests.get(receiver.url + HEALTH_PATH, timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_without_a_database_health_is_503_and_notifications_are_503_for_airtable_to_retry(
    serve: Callable[..., ReceiverServer], hook: WebhookRecord, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = serve(UNREACHABLE_DATABASE)
    with stacks_if_stuck(8):  # answered within 5 s by design; once no answer in 10 s at load 10 (cause not found)
        health = requests.get(receiver.url + HEALTH_PATH, timeout=10)
    assert (health.status_code, health.json()) == (503, {"status": "unavailable"})
    body = ping(hook)
    caplog.set_level(logging.WARNING, logger="airtable_pg.receiver")
    answer = post(receiver, body, signature(hook.mac_secret, body))
    assert (answer.status_code, answer.json()) == (503, {"error": "database unavailable"})  # no address on the wire
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert "503 database unavailable (cannot reach the database: " in line and "port 9" in line


def test_on_notification_wakes_with_the_base_id_after_the_answer(
    serve: Callable[..., ReceiverServer], hook: WebhookRecord, database_url: str
) -> None:
    release, woken = threading.Event(), []

    def on_notification(base_id: str) -> None:
        release.wait(10)  # a slow callback: the 200 must not wait for it
        woken.append(base_id)

    receiver = serve(database_url, on_notification=on_notification)
    body = ping(hook)
    started = time.monotonic()
    assert post(receiver, body, signature(hook.mac_secret, body)).status_code == 200
    assert time.monotonic() - started < 5 and woken == []
    release.set()
    _wait_for(lambda: woken == [BASE_ID])
    assert post(receiver, b"[]", signature(hook.mac_secret, b"[]")).status_code == 400
    assert post(receiver, body, signature(hook.mac_secret, body)).status_code == 200
    _wait_for(lambda: len(woken) >= 2)  # wakes run in order: one from the refusal would have come before this one
    assert woken == [BASE_ID, BASE_ID]  # refusals wake nobody


def test_a_failing_callback_still_answers_200_and_keeps_the_notification(
    serve: Callable[..., ReceiverServer], hook: WebhookRecord, database_url: str
) -> None:
    def on_notification(base_id: str) -> None:
        raise RuntimeError("the applier is broken")

    receiver = serve(database_url, on_notification=on_notification)
    body = ping(hook)
    assert [post(receiver, body, signature(hook.mac_secret, body)).status_code for _ in range(2)] == [200, 200]
    assert len(inbox(database_url)) == 2


def test_each_refusal_logs_one_line_without_secret_mac_or_body(
    receiver: ReceiverServer, hook: WebhookRecord, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "2026-12-02T10:00:00.123Z"  # only in the bodies
    body = ping(hook, timestamp=marker)
    good = signature(hook.mac_secret, body)
    tampered = ping(hook, timestamp=marker.replace("123", "124"))
    malformed = b'{"webhook": {"id": "' + marker.encode() + b'"'
    caplog.set_level(logging.INFO, logger="airtable_pg.receiver")
    statuses = [
        post(receiver, tampered, good).status_code,
        post(receiver, body, signature(random_secret(), body)).status_code,
        post(receiver, body).status_code,
        post(receiver, malformed, good).status_code,
        post(receiver, b" " * (DEFAULT_MAX_BODY_BYTES + 1), good).status_code,
    ]
    assert statuses == [401, 401, 401, 400, 413]
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("airtable_pg.receiver")]
    assert len(lines) == len(statuses) and all(line.startswith("refused a webhook notification") for line in lines)
    assert "webhook achReceiverTest01, base appReceiverTest01" in lines[0]
    secret_forms = [hook.mac_secret, base64.b64decode(hook.mac_secret).hex(), good, good.split("=", 1)[1][:16]]
    for line in lines:
        assert not any(form in line for form in secret_forms), line
        assert marker not in line and marker.replace("123", "124") not in line


def _json(body: bytes) -> dict[str, Any]:
    import json

    return json.loads(body)


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
