"""``airtable-pg dev`` killed with SIGKILL: its sandbox, receiver, applier, pusher and Dagster's processes go too."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from airtable_pg_tests.cli.test_dev_lifeline import wait_until_gone
from airtable_pg_tests.e2e.test_ui import descendants, start_dev, wait_for_asset_nodes


def test_every_child_dies_with_a_dev_command_killed_with_sigkill(
    migrated_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("dev_sigkill")
    server = start_dev(migrated_url, home, AIRTABLE_PG_HOME=str(home / "airtable_pg_home"))
    process = server.process
    tree: set[int] = set()
    try:
        wait_for_asset_nodes(server)
        tree = descendants(process.pid)
        assert len(tree) >= 6  # the lifeline, sandbox, receiver, applier, pusher, dagster dev and its processes
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        left = wait_until_gone(sorted(tree), 30)
        assert not left, f"still running after `airtable-pg dev` was killed: {left}"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in tree:  # a failed run must not leave a stack behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
