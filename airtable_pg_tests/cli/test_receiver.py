"""`airtable-pg receiver`: serves in the foreground, prints the URL for Airtable, stops cleanly on SIGTERM/Ctrl-C."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import requests

from airtable_pg import cli
from airtable_pg.postgres.database import connection_pool, libpq_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import WebhookRecord, save_webhook
from airtable_sandbox.webhooks.delivery import content_mac, notification_body

SECRET = base64.b64encode(b"receiver-cli-test-secret-0123456").decode()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_serves_until_stopped_and_exits_0(database_url: str, tmp_path: Path, stop: signal.Signals) -> None:
    hook = WebhookRecord("appReceiverCli001", "achReceiverCli001", SECRET, 1, None, {}, None)
    with transaction(connection_pool(database_url)) as cur:
        save_webhook(cur, hook)
    env = {**os.environ, "DATABASE_URL": database_url, "AIRTABLE_PG_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "airtable_pg", "receiver", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("receiving Airtable webhook notifications at http://127.0.0.1:"), first
        webhook_url = first.rsplit(" ", 1)[1]
        assert webhook_url.endswith("/airtable/webhook") and ":0/" not in webhook_url
        body = notification_body(hook.base_id, hook.webhook_id, "2026-12-02T11:00:00.000Z")
        mac = content_mac(base64.b64decode(SECRET), body)
        answers = [
            requests.post(webhook_url, data=body, headers={"X-Airtable-Content-MAC": signed}, timeout=10).status_code
            for signed in (mac, "hmac-sha256=00")
        ]
        assert answers == [200, 401]
        health = requests.get(webhook_url.replace("/airtable/webhook", "/healthz"), timeout=10)
        assert health.json() == {"status": "ok"}
    finally:
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "airtable-pg receiver: stopped" in err
    assert "refused a webhook notification: 401" in err and "stored notification 1" in err
    assert SECRET not in err and mac not in err
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("select count(*) from airtable_sync.inbox").fetchone() == (1,)


def test_an_unmigrated_database_is_a_configuration_error(
    new_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", new_database("receiver_empty"))
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    assert cli.main(["receiver", "--port", "0"]) == 2
    assert "run `airtable-pg db upgrade`" in capsys.readouterr().err
