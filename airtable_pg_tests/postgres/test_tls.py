"""TLS end to end: a server that accepts only TLS, with a CA and certificate made by the test.

``sslmode=require | verify-ca | verify-full`` connect; with verify-full the sync, ``db upgrade``, the receiver and
Dagster's storage all work, while a wrong CA or a wrong host name is refused with one clear line.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from airtable_pg import cli
from airtable_pg.cli.dev import dagster_storage_url
from airtable_pg.postgres.database import connection_pool, ensure_database
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import WebhookRecord, save_webhook
from airtable_pg.receiver.app import build_app
from airtable_pg.receiver.server import ReceiverServer
from airtable_pg.spec import load_spec
from airtable_pg_tests.dagster_instance import store_a_run
from airtable_pg_tests.postgres.tls_server import (
    TlsPostgres,
    make_authority,
    start_tls_postgres,
    tls_capable_bin,
)
from airtable_pg_tests.sync_helpers import mirror_rows
from airtable_sandbox.server import Sandbox
from airtable_sandbox.webhooks.delivery import content_mac, notification_body

BASE = load_spec().bases["coaching"]
TLS_BIN = tls_capable_bin()
pytestmark = pytest.mark.skipif(
    TLS_BIN is None, reason="no PostgreSQL built with OpenSSL (Debian's `postgresql` package provides one)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsPostgres]:
    assert TLS_BIN is not None
    running = start_tls_postgres(tmp_path_factory.mktemp("tls"), TLS_BIN, make_authority("airtable_pg test CA"),
                                 ["localhost"])  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def mirror_url(server: TlsPostgres) -> str:
    ensure_database(server.url(), "mirror")
    return server.url("mirror")


def in_tls(url: str) -> bool:
    with connection_pool(url).connect() as conn:
        return conn.exec_driver_sql("select ssl from pg_stat_ssl where pid = pg_backend_pid()").scalar()


@pytest.mark.parametrize("sslmode", ["require", "verify-ca", "verify-full"])
def test_each_sslmode_connects_over_tls(server: TlsPostgres, sslmode: str):
    assert in_tls(server.url(sslmode=sslmode))


def test_a_client_without_tls_is_refused_by_this_server(server: TlsPostgres, capsys, monkeypatch, tmp_path):
    # What makes every other test here a proof of TLS: the server refuses anything else.
    monkeypatch.setenv("DATABASE_URL", server.url(sslmode="disable"))
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    assert cli.main(["db", "current"]) == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "cannot reach" in x]
    assert "the server accepts only TLS: add ?sslmode=verify-full" in line


def test_db_upgrade_then_a_sync_over_verify_full(mirror_url: str, sandbox: Sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", mirror_url)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    monkeypatch.setenv("AIRTABLE_API_KEY", sandbox.token)
    monkeypatch.setenv("AIRTABLE_API_URL", sandbox.url)
    monkeypatch.setenv("AIRTABLE_PG_RATE_LIMIT", "50")
    assert cli.main(["db", "upgrade"]) == 0  # Alembic
    assert cli.main(["sync", "--full", "--table", "programs", "--workers", "2"]) == 0  # the engine
    assert mirror_rows(mirror_url, BASE, BASE.tables["programs"])


def test_the_receiver_stores_a_signed_ping_over_verify_full(mirror_url: str, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", mirror_url)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    assert cli.main(["db", "upgrade"]) == 0
    secret = base64.b64encode(os.urandom(32)).decode()
    hook = WebhookRecord(base_id=BASE.id, webhook_id="achTlsReceiver001", mac_secret=secret, cursor=1,
                         notification_url=None, specification={}, expires_at=None)  # fmt: skip
    with transaction(connection_pool(mirror_url)) as cur:
        save_webhook(cur, hook)
    receiver = ReceiverServer(build_app(mirror_url))
    receiver.start()
    try:
        body = notification_body(hook.base_id, hook.webhook_id, "2026-12-02T10:00:00.000Z")
        mac = content_mac(base64.b64decode(secret), body)
        answer = requests.post(receiver.webhook_url, data=body, headers={"X-Airtable-Content-MAC": mac}, timeout=10)
        assert answer.status_code == 200
    finally:
        receiver.stop()
    with psycopg.connect(mirror_url) as conn:
        assert conn.execute("select count(*) from airtable_sync.inbox where webhook_id = %s",
                            (hook.webhook_id,)).fetchone()[0] == 1  # fmt: skip


def test_dagster_storage_over_verify_full(server: TlsPostgres, tmp_path: Path):
    ensure_database(server.url(), "dagster")
    # The same derivation `airtable-pg dev` uses: psycopg2 driver, TLS parameters kept.
    storage_url = dagster_storage_url(server.url())
    assert storage_url.startswith("postgresql+psycopg2://") and "sslmode=verify-full" in storage_url
    store_a_run(storage_url, tmp_path / "dagster_home")


@pytest.mark.parametrize(
    ("wrong", "expected"),
    [
        ("ca", "TLS: the server's certificate is not signed by the CA in sslrootcert"),
        ("host", "TLS: the server's certificate does not name the host of the URL"),
    ],
)
@pytest.mark.parametrize("argv", [["db", "upgrade"], ["sync", "--full"], ["receiver", "--port", "0"]])
def test_a_wrong_ca_or_host_name_is_refused_with_one_clear_line(
    server: TlsPostgres, wrong: str, expected: str, argv: list[str], capsys, monkeypatch, tmp_path
):
    if wrong == "ca":
        other = tmp_path / "other-ca.pem"
        other.write_bytes(make_authority("some other CA").pem())
        url = server.url("mirror", ca_file=other)
    else:
        url = server.url("mirror", host="127.0.0.1")  # the certificate names localhost only
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    monkeypatch.setenv("AIRTABLE_API_KEY", "patNeverUsed.0000")
    monkeypatch.setenv("AIRTABLE_API_URL", "http://127.0.0.1:9")
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if "cannot reach the database" in line]
    assert len(failures) == 1 and expected in failures[0], err
    assert "Traceback" not in err
