"""CPU burners: processes that keep every core busy, so a benchmark runs on a machine under heavy load.

``--burn N`` in the full-sync, outbound and fast-lane benchmarks starts ``N`` of them before the run. Each is a
plain busy loop that **stops by itself** at a deadline (and when its parent goes: it checks its parent pid), so
an interrupted benchmark leaves nothing behind. The 1-minute load average reacts slowly (it is an average), so
``start`` waits until it has climbed to ``target_load`` (or ``ramp_seconds`` passed) before handing back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# Stops at its deadline, or as soon as the process that started it is gone (its parent pid changes).
BURNER = """
import os, sys, time
deadline, parent = float(sys.argv[1]), os.getppid()
while time.time() < deadline and os.getppid() == parent:
    for _ in range(200_000):
        pass
"""
RAMP_POLL_SECONDS = 2.0


@dataclass
class Burners:
    processes: list[subprocess.Popen[bytes]]
    load_reached: float

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            process.wait(timeout=10)


def start(count: int, seconds: float, *, target_load: float = 8.0, ramp_seconds: float = 90.0) -> Burners:
    """``count`` burners running for at most ``seconds``; returns once the load average reached ``target_load``."""
    deadline = time.time() + seconds
    processes = [
        subprocess.Popen([sys.executable, "-c", BURNER, str(deadline)], stdin=subprocess.DEVNULL) for _ in range(count)
    ]
    ramp_until = time.monotonic() + ramp_seconds
    while os.getloadavg()[0] < target_load and time.monotonic() < ramp_until:
        time.sleep(RAMP_POLL_SECONDS)  # the kernel's load average has no event to wait on
    return Burners(processes, os.getloadavg()[0])


def add_argument(parser) -> None:  # type: ignore[no-untyped-def]
    parser.add_argument(
        "--burn",
        type=int,
        default=0,
        metavar="N",
        help="start N CPU burners first (load average ≥ 8 on 2 cores with ~10); they stop by themselves",
    )


@contextmanager
def burning(count: int, seconds: float = 1800.0) -> Iterator[dict]:
    """``count`` burners (none when 0) for the block; yields what to report: how many, and the load averages."""
    report: dict = {"count": count}
    if not count:
        yield report
        return
    burn = start(count, seconds)
    report["load_when_started"] = burn.load_reached
    try:
        yield report
    finally:
        report["load_at_end"] = os.getloadavg()[0]
        burn.stop()
