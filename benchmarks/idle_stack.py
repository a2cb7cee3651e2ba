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
import time
from pathlib import Path

import requests

from benchmarks.dev_stack import REPO, running_dev_stack

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
    with running_dev_stack(args.port, "idle_stack_") as stack:
        url, dev = stack.url, stack.process
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


if __name__ == "__main__":
    main()
