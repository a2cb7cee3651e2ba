"""How long ``airtable-pg dev`` takes to stop gracefully (SIGTERM → exit), and what its floor is.

Run: ``python -m benchmarks.dev_stop`` (``--runs 1``). Starts ``airtable-pg dev --records 40`` on a fresh database of
the benchmarks' embedded server, waits until it prints that it is running, sends SIGTERM and times its exit; the
command prints how long each child took (Dagster and the live sync's processes are stopped together, then the
sandbox). The floor is the slowest child's own stop: the others stop meanwhile.

Results: ``benchmarks/results/dev_stop.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from airtable_pg.cli.dev import free_port
from benchmarks.full_sync import fresh_database

REPO = Path(__file__).resolve().parents[1]
WORK = Path(".airtable_pg/bench-dev-stop").resolve()
READY_LINE = "airtable_pg dev is running"
STARTUP_SECONDS = 240.0


def one_stop(server_url: str, index: int) -> dict:
    database = fresh_database(server_url, f"bench_dev_stop_{int(time.time())}_{index}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE_", "DAGSTER_", "DATABASE_"))}
    env |= {"DATABASE_URL": database, "DAGSTER_HOME": str(WORK / f"dagster_home_{index}"),
            "AIRTABLE_PG_HOME": str(WORK / f"home_{index}"), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    log = WORK / f"dev_{index}.log"
    with log.open("wb") as sink:
        argv = [sys.executable, "-m", "airtable_pg", "dev", "--port", str(free_port("127.0.0.1")), "--records", "40"]
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_SECONDS
    while READY_LINE not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"airtable-pg dev did not start; see {log}")
        time.sleep(0.5)  # a log file has no event to wait on
    time.sleep(5)  # let the sensors' first ticks start, as they would while a person works
    load = os.getloadavg()[0]
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=120)
    seconds = time.monotonic() - started
    stopped = [line.strip() for line in log.read_text(errors="replace").splitlines() if "stopped within" in line]
    return {"seconds": seconds, "exit_code": code, "children": stopped, "load_1m": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/dev_stop.json")
    args = parser.parse_args(argv)
    from airtable_pg.postgres.embedded import start_embedded

    WORK.mkdir(parents=True, exist_ok=True)
    server_url = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    runs = [one_stop(server_url, index) for index in range(args.runs)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"runs": runs}, indent=2))
    for run in runs:
        print(f"SIGTERM → exit {run['exit_code']} in {run['seconds']:.1f} s (load {run['load_1m']:.1f}): "
              f"{'; '.join(run['children'])}")  # fmt: skip
    return 0 if all(run["exit_code"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
