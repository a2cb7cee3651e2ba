"""What an idle `airtable-pg dev` costs: the Dagster runs it launches and its CPU seconds over a window.

Starts the whole stack (embedded Postgres, sandbox, receiver, applier, pusher, `dagster dev`) in a scratch home, lets
its first ticks pass, then counts, over ``--minutes``, the runs launched (from the webserver's GraphQL, by trigger) and
the CPU seconds of the stack's whole process tree (user + system, children reaped included, from /proc). CPU seconds
do not depend on what else the machine runs; the load average is noted anyway.

    python -m benchmarks.idle_stack --minutes 30        # results in benchmarks/results/idle_stack.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RUNS = "{ runsOrError(limit: 1000) { ... on Runs { results { runId jobName tags { key value } } } } }"


def tree_cpu_seconds(root: int) -> float:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, pending, tick = 0.0, [root], os.sysconf("SC_CLK_TCK")
    while pending:
        pid = pending.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15]) / tick  # utime stime cutime cstime
        except OSError:
            pass
        pending += children.get(pid, [])
    return total


def runs(url: str) -> list[dict]:
    response = requests.post(f"{url}/graphql", json={"query": RUNS}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]["runsOrError"]["results"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--port", type=int, default=3240)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="idle_stack_"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE", "DATABASE", "DAGSTER"))}
    env |= {"AIRTABLE_PG_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), "PYTHONUNBUFFERED": "1"}
    log = home / "dev.log"
    with log.open("wb") as sink:
        dev = subprocess.Popen([sys.executable, "-m", "airtable_pg", "dev", "--port", str(args.port)], cwd=REPO,
                               env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.monotonic() + 600
        while "airtable_pg dev is running" not in log.read_text(errors="replace"):
            if dev.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"airtable-pg dev did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(2)
        time.sleep(60)  # the first ticks after start-up are not the idle steady state
        before, cpu_before = {r["runId"] for r in runs(url)}, tree_cpu_seconds(dev.pid)
        time.sleep(args.minutes * 60)
        cpu_after, launched = tree_cpu_seconds(dev.pid), [r for r in runs(url) if r["runId"] not in before]
        by_trigger: dict[str, int] = {}
        for run in launched:
            tags = {t["key"]: t["value"] for t in run["tags"]}
            key = tags.get("airtable_pg/trigger") or run["jobName"]
            by_trigger[key] = by_trigger.get(key, 0) + 1
        result = {
            "minutes": args.minutes,
            "runs_launched": len(launched),
            "by_trigger": by_trigger,
            "cpu_seconds": round(cpu_after - cpu_before, 1),
            "loadavg_end": os.getloadavg(),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "idle_stack.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(timeout=120)


if __name__ == "__main__":
    main()
