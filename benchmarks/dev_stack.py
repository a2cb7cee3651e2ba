"""A whole `airtable-pg dev` stack in a scratch home, for the benchmarks that watch it from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READY_LINE = "airtable_pg dev is running"


@dataclass(frozen=True)
class DevStack:
    process: subprocess.Popen[bytes]
    url: str  # the Dagster webserver
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_dev_stack(port: int, prefix: str, start_seconds: float = 600) -> Iterator[DevStack]:
    """Start the stack (no database, Airtable or Dagster setting of this shell leaks in), wait until it says it is
    running, and stop its whole process group afterwards."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE", "DATABASE", "DAGSTER"))}
    env |= {"AIRTABLE_PG_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), "PYTHONUNBUFFERED": "1"}
    log = home / "dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "airtable_pg", "dev", "--port", str(port)], cwd=REPO,
                                   env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    stack = DevStack(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + start_seconds
        while READY_LINE not in stack.output():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"airtable-pg dev did not start:\n{stack.output()[-3000:]}")
            time.sleep(2)
        yield stack
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
