"""``airtable-pg dev``'s children die with it however it dies: a supervisor killed with SIGKILL takes its
children's whole process groups (grandchildren included) with it, through the lifeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from airtable_pg_tests.e2e.test_ui import alive

REPO = Path(__file__).resolve().parents[2]

# A supervisor as `airtable-pg dev` is one: a lifeline, then children in sessions of their own, one of which
# starts a grandchild (as `dagster dev` starts its webserver and daemon). It prints their pids, then waits.
SUPERVISOR = """
import os, sys, time
from pathlib import Path
from airtable_pg.cli.dev import Lifeline, start_child
lifeline = Lifeline(grace=5.0)
tree = "import subprocess, sys, time; print(subprocess.Popen(['sleep', '600']).pid, flush=True); time.sleep(600)"
children = [start_child(name, [sys.executable, "-c", tree], env=os.environ, cwd=Path.cwd(),
                        output=Path(sys.argv[1]) / f"{name}.out", lifeline=lifeline) for name in ("a", "b")]
print(lifeline.process.pid, *(child.process.pid for child in children), flush=True)
time.sleep(600)
"""


def wait_until_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)  # other sessions' processes: nothing to wait on but their /proc entries
    return [pid for pid in pids if alive(pid)]


def grandchild(out: Path, seconds: float = 20) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().strip():
            return int(out.read_text().split()[0])
        time.sleep(0.1)
    raise AssertionError(f"{out} never named its grandchild")


def test_a_supervisor_killed_with_sigkill_takes_its_children_and_grandchildren(tmp_path: Path) -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(tmp_path)], cwd=REPO,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert supervisor.stdout is not None
    lifeline, *children = map(int, supervisor.stdout.readline().split())
    grandchildren = [grandchild(tmp_path / f"{name}.out") for name in ("a", "b")]
    for pid in children:
        assert os.getpgid(pid) == pid != os.getpgid(supervisor.pid)  # sessions of their own, as before
    tree = [*children, *grandchildren]
    assert all(alive(pid) for pid in tree)
    supervisor.send_signal(signal.SIGKILL)  # no handler, no clean-up: only the kernel closing its pipe
    supervisor.wait(timeout=10)
    assert not wait_until_gone([*tree, lifeline], 15), "children outlived a supervisor killed with SIGKILL"
