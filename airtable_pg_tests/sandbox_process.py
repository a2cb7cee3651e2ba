"""The sandbox in a process of its own, started exactly as ``airtable-sandbox`` would be.

Tests about Airtable's rate limit need it: a sandbox thread in the test process shares the interpreter lock with
the syncs under test, so a busy sync delays the moment the sandbox *counts* a request by tens of milliseconds,
squeezing requests that left a spacing apart into one second. Airtable counts arrivals on its own machines; a
process of its own is the nearest this machine gets.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airtable_pg_tests.sync_helpers import admin

TOKEN = "patSandboxProcess.0123456789"
LAUNCH = "import sys; from airtable_sandbox.main import run_sandbox; sys.exit(run_sandbox(sys.argv[1:]))"


class RunningSandbox:
    def __init__(self, process: subprocess.Popen[str], lines: queue.Queue[str], pump: threading.Thread) -> None:
        self.process = process
        self.lines = lines
        self.pump = pump
        self.output: list[str] = []
        self.url = ""
        self.token = TOKEN

    def wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.output.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                return self.url
        raise AssertionError(f"the sandbox did not start in {timeout} s; output: {self.output}")

    def stats(self) -> dict[str, Any]:
        """The sandbox's request counters (``GET /_sandbox/stats``)."""
        return admin(self, "GET", "stats")

    def memory_bytes(self, key: str) -> int:
        """``VmRSS`` (now) or ``VmHWM`` (peak) of the sandbox process."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(f"{key} not in /proc/{self.process.pid}/status")

    def cpu_seconds(self) -> float:
        """CPU time the sandbox process has used: unlike wall time, it does not grow when the machine is busy."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, wait for the exit code, and collect everything the process printed."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.pump.join(timeout=5)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code


@contextmanager
def running_sandbox(*args: str) -> Iterator[RunningSandbox]:
    command = [sys.executable, "-c", LAUNCH, "--port", "0", "--token", TOKEN, *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    running = RunningSandbox(process, lines, pump_thread)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
