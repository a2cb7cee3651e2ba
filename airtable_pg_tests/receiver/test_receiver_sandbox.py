"""End to end: a webhook created through pyairtable on the sandbox pings the receiver, which stores it.

The sandbox signs and sends its pings the way Airtable does, and records each delivery's outcome where
Airtable's List-webhooks shows it (``lastNotificationResult``), so both sides are checked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pyairtable import Api

from airtable_pg.postgres.database import connection_pool, libpq_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import WebhookRecord, save_webhook
from airtable_pg.receiver.app import build_app
from airtable_pg.receiver.server import ReceiverServer
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox

SPECIFICATION = {"options": {"filters": {"dataTypes": ["tableData"]}}}


@pytest.fixture
def small_sandbox(sandbox_factory) -> Sandbox:
    return sandbox_factory(demo_records=20)


@pytest.fixture
def woken() -> list[str]:
    return []


@pytest.fixture
def receiver(database_url: str, woken: list[str]) -> Iterator[tuple[ReceiverServer, threading.Event]]:
    arrived = threading.Event()

    def on_notification(base_id: str) -> None:
        woken.append(base_id)
        arrived.set()

    with ReceiverServer(build_app(database_url, on_notification=on_notification)) as server:
        yield server, arrived


def remember(database_url: str, base_id: str, webhook_id: str, secret: str, url: str) -> None:
    record = WebhookRecord(base_id, webhook_id, secret, 1, url, SPECIFICATION, None)
    with transaction(connection_pool(database_url)) as cur:
        save_webhook(cur, record)


def inbox(database_url: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute("select base_id, webhook_id, body from airtable_sync.inbox order by id").fetchall()


def last_result(api: Api, webhook_id: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while (result := api.base(DEMO_BASE_ID).webhook(webhook_id).last_notification_result) is None:
        assert time.monotonic() < deadline, "the sandbox never delivered a ping"
        time.sleep(0.05)
    return result


def test_an_edit_through_pyairtable_reaches_the_inbox(
    small_sandbox: Sandbox, receiver: tuple[ReceiverServer, threading.Event], database_url: str, woken: list[str]
) -> None:
    server, arrived = receiver
    api = airtable_api_for(small_sandbox)
    created = api.base(DEMO_BASE_ID).add_webhook(server.webhook_url, SPECIFICATION)
    remember(database_url, DEMO_BASE_ID, created.id, created.mac_secret_base64, server.webhook_url)

    started = time.monotonic()
    api.table(DEMO_BASE_ID, "programs").create({"duration_weeks": 3})
    assert arrived.wait(10), "no notification arrived"
    latency_ms = (time.monotonic() - started) * 1000

    [(base_id, webhook_id, body)] = inbox(database_url)
    assert (base_id, webhook_id) == (DEMO_BASE_ID, created.id)
    assert body["base"] == {"id": DEMO_BASE_ID} and body["webhook"] == {"id": created.id} and body["timestamp"]
    assert woken == [DEMO_BASE_ID]
    result = last_result(api, created.id)
    assert result.success, result
    assert latency_ms < 5000


def test_a_hook_the_database_does_not_know_is_refused_and_airtable_sees_the_404(
    small_sandbox: Sandbox, receiver: tuple[ReceiverServer, threading.Event], database_url: str, woken: list[str]
) -> None:
    server, _ = receiver
    api = airtable_api_for(small_sandbox)
    created = api.base(DEMO_BASE_ID).add_webhook(server.webhook_url, SPECIFICATION)  # never stored

    api.table(DEMO_BASE_ID, "programs").create({"duration_weeks": 4})
    result = last_result(api, created.id)
    assert not result.success and "404" in result.error.message
    assert inbox(database_url) == [] and woken == []
