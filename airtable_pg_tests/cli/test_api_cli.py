"""`airtable-pg api`: tokens create/list/revoke; serving in the foreground (one worker or several) until SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airtable_pg import cli
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.demo import DEMO_BASE_ID


@pytest.fixture
def api_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"DATABASE_URL": database_url, "AIRTABLE_PG_HOME": str(tmp_path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AIRTABLE_API_KEY", raising=False)
    return {**os.environ, **env}


def test_tokens_create_list_revoke(api_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["api", "tokens", "create", "--name", "app", "--bases", DEMO_BASE_ID, "--read"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("pat") and len(token) == 82
    assert cli.main(["api", "tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert "app" in listed and DEMO_BASE_ID in listed and "read" in listed and token not in listed
    assert cli.main(["api", "tokens", "create", "--name", "x", "--bases", "appNotInTheSpec01", "--write"]) == 2
    assert "not in the spec: appNotInTheSpec01" in capsys.readouterr().err
    assert cli.main(["api", "tokens", "revoke", "app"]) == 0
    assert cli.main(["api", "tokens", "revoke", "app"]) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_serves_until_stopped_and_never_logs_the_token(
    api_env: dict[str, str], capsys: pytest.CaptureFixture[str], workers: int
) -> None:
    assert cli.main(["api", "tokens", "create", "--name", "app", "--bases", DEMO_BASE_ID, "--read"]) == 0
    token = capsys.readouterr().out.strip()
    port = _free_port() if workers > 1 else 0
    process = subprocess.Popen(
        [sys.executable, "-m", "airtable_pg", "api", "--port", str(port), "--workers", str(workers)],
        env=api_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("serving the Airtable API at http://127.0.0.1:"), first
        url = first.split(" at ", 1)[1].split(" ", 1)[0].removesuffix("/v0")
        headers = {"Authorization": f"Bearer {token}"}

        def listed() -> requests.Response | None:
            try:
                return requests.get(f"{url}/v0/{DEMO_BASE_ID}/users", headers=headers, timeout=10)
            except requests.ConnectionError:
                return None  # the workers are still starting

        response = wait_until(listed, timeout=60, what="the API to answer")
        assert (response.status_code, response.json()) == (200, {"records": []})
        assert requests.get(f"{url}/v0/{DEMO_BASE_ID}/users", timeout=10).status_code == 401
        assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert token not in err and token.split(".")[1] not in err
