"""`airtable-pg webhooks ensure | list | apply --follow`: a hook another receiver serves is not re-pointed unless
--force, `list` shows the URL each hook pings, and a second follower says whom it waits for and stops at once."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from airtable_pg import cli
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import load_webhook
from airtable_pg_tests.cli.test_sync import environment
from airtable_sandbox.demo import DEMO_BASE_ID
from airtable_sandbox.server import Sandbox

DEV_RECEIVER = "http://127.0.0.1:1/airtable/webhook"  # never pinged here: nothing changes in the sandbox
ELSEWHERE = "https://sync.example.com/airtable/webhook"


@pytest.fixture
def env(sandbox: Sandbox, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = environment(sandbox, database_url, AIRTABLE_PG_HOME=str(tmp_path))
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def stored_hook_id(database_url: str) -> str:
    with transaction(connection_pool(database_url)) as cur:
        return load_webhook(cur, DEMO_BASE_ID).webhook_id


def test_a_hook_another_receiver_serves_is_re_pointed_only_with_force(env, database_url: str, capsys) -> None:
    assert cli.main(["webhooks", "ensure", "--url", DEV_RECEIVER]) == 0
    capsys.readouterr()
    first = stored_hook_id(database_url)
    assert cli.main(["webhooks", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"coaching: {first} healthy" in listed and f"pings {DEV_RECEIVER}; expires 20" in listed

    assert cli.main(["webhooks", "ensure", "--url", ELSEWHERE]) == 2
    err = capsys.readouterr().err
    assert f"pings {DEV_RECEIVER}" in err and "--force" in err
    assert stored_hook_id(database_url) == first  # unchanged: the dev receiver still gets its pings

    assert cli.main(["webhooks", "ensure", "--url", ELSEWHERE, "--force"]) == 0
    out = capsys.readouterr().out
    second = stored_hook_id(database_url)
    assert second != first and f"replaced webhook {first} (pings {DEV_RECEIVER})" in out and "deleted" in out
    assert cli.main(["webhooks", "list"]) == 0
    assert f"pings {ELSEWHERE}" in capsys.readouterr().out


class Follower:
    """`airtable-pg webhooks apply --follow` as a process, its stdout read line by line with a deadline."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airtable_pg", "webhooks", "apply", "--follow", "--interval", "30"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def line_with(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout} s")

    def stop(self) -> float:
        """Ctrl-C; the seconds it took to exit (with code 0)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        return time.monotonic() - started


def test_a_second_follower_says_whom_it_waits_for_stops_fast_and_takes_over(env) -> None:
    first = Follower(env)
    second = third = None
    try:
        first.line_with("following coaching")
        second = Follower(env)
        waiting = second.line_with("coaching: waiting: another applier follows")
        assert f"pid {first.process.pid} on " in waiting and "since 20" in waiting
        third = Follower(env)
        third.line_with("waiting")
        assert third.stop() < 2.0  # Ctrl-C while waiting: out at once
        assert first.stop() < 2.0  # Ctrl-C while following (interval 30 s): out at once
        second.line_with("following coaching")  # the holder stopped: the waiting one took over
        assert second.stop() < 2.0
    finally:  # only after a failed assertion: each stop above waited for its process
        for follower in (first, second, third):
            if follower is not None and follower.process.poll() is None:
                follower.process.kill()
