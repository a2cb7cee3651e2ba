"""Fast-lane benchmark: users provisioned from Airtable into Postgres, idle and during a 100,000-record backfill,
and what the live sync costs an idle base in API requests per hour.

Run: ``make bench-fast-lane`` (``python -m benchmarks.fast_lane --records 100000 --users 300 --idle-users 60
--rate 1.5``; about 14 minutes, most of it Airtable's own pace).

The stack is the one a deployment runs, each piece a child process of its own: the sandbox with Airtable's real
limits (5 requests/s per base, 30 s penalty after a 429), ``--latency-ms`` per request and a
``--notification-delay-ms`` delay before each webhook ping; a fresh database migrated with the demo chain on an
embedded Postgres; ``airtable-pg receiver``, ``airtable-pg webhooks apply --follow`` (recording runless
materializations on a Postgres-backed Dagster instance) and ``airtable-pg outbound run --follow``, as
``airtable-pg dev`` starts them. The base's hook is made by the live sync's care step (``WebhookManager.ensure``,
pinging the receiver) without its gap poll: on a fresh mirror that poll is the first import, which here is
the backfill below.

1. **Backfill**: ``airtable-pg sync --full`` (another process) imports the ``--records`` demo records while
   ``--users`` users are created at ``--rate`` per second (see ``benchmarks.provisioning``). Reported: each user's
   latency from Airtable's ``createdTime`` to its commit in Postgres, for the users created while the sync ran;
   the sync's records/s as a share of the 500 records/s ceiling; the fast lane's requests and the 429s.
2. **Idle**: ``--idle-users`` more users at ``--idle-rate`` (0.5/s: each one alone, its ping not shared), nothing
   else running.
3. **Requests per hour on the idle base** (``benchmarks.live_costs``): the applier over a ``--window``, then one
   tick of every Dagster sensor and schedule multiplied by its ticks per hour (after a settling pass that answers
   what the benchmark's own users changed).

Results: ``benchmarks/results/fast_lane.json`` and a markdown table on stdout. Exit 1 on any 429 (the run is not
a result) or a user that never arrived.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from airtable_pg.cli.dev import Child, dagster_storage_url, free_port, start_child, stop_child, wait_for_http
from airtable_pg.postgres.database import ensure_database, libpq_url
from benchmarks import burners, harness
from benchmarks.full_sync import (
    CEILING_RECORDS_PER_S,
    DEMO_BASE_ID,
    TOKEN,
    fresh_database,
    mirror_live_rows,
    reset_stats,
    sandbox_runtime,
    sandbox_stats,
    start_sandbox,
)
from benchmarks.live_costs import applier_window, measure_ticks
from benchmarks.provisioning import MirrorWatcher, Provisioning, latency_report

REPO = Path(__file__).resolve().parents[1]
WORK = Path(".airtable_pg/bench-fast-lane").resolve()
REQUESTS_PER_HOUR_CEILING = 5 * 3600
APPLY_INTERVAL_SECONDS = 10.0  # as `airtable-pg dev` runs the applier
ARRIVAL_TIMEOUT_SECONDS = 60.0
BACKFILL_LEAD_SECONDS = 3.0  # users start once the sync is past its imports and planning


@dataclass
class Stack:
    sandbox_url: str
    database_url: str
    env: dict[str, str]
    children: list[Child]

    def stop(self) -> None:
        for child in reversed(self.children):
            stop_child(child)
        self.children.clear()


def load() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen}


def start_live_children(args: argparse.Namespace, sandbox_url: str, database_url: str, server_url: str) -> Stack:
    port = free_port("127.0.0.1")
    ping_url = f"http://127.0.0.1:{port}/airtable/webhook"
    ensure_database(server_url, "dagster")
    home = WORK / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE_", "DAGSTER_", "DATABASE_"))}
    env |= {
        "DATABASE_URL": database_url,
        "AIRTABLE_API_KEY": TOKEN,
        "AIRTABLE_API_URL": sandbox_url,
        "AIRTABLE_PG_RECEIVER_URL": ping_url,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": dagster_storage_url(database_url),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }
    stack = Stack(sandbox_url, database_url, env, [])
    commands = {
        "receiver": ["receiver", "--host", "127.0.0.1", "--port", str(port)],
        "applier": ["webhooks", "apply", "--follow", "--interval", str(APPLY_INTERVAL_SECONDS)],
        "pusher": ["outbound", "run", "--follow"],
    }
    for name, argv in commands.items():
        stack.children.append(spawn(name, argv, env))
    wait_for_http(f"http://127.0.0.1:{port}/healthz", stack.children, threading.Event(), timeout=120.0)
    ensure_hooks(database_url, sandbox_url, ping_url)
    return stack


def spawn(name: str, argv: list[str], env: dict[str, str]) -> Child:
    return start_child(name, [sys.executable, "-m", "airtable_pg", *argv], env=env, cwd=REPO,
                       output=WORK / f"{name}.log")  # fmt: skip


def ensure_hooks(database_url: str, sandbox_url: str, ping_url: str) -> None:
    """The care step's hook, pinging the receiver; its gap poll (on a fresh mirror: the first import) is left to
    the backfill."""
    live = sandbox_runtime(database_url, sandbox_url).live()
    for base in live.spec.bases.values():
        live.manager.ensure(base, ping_url)


def lane_requests(database_url: str) -> tuple[int, int]:
    """The base's requests so far, and those of the fast lane, as the shared rate limiter booked them."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "select requests, fast_requests from airtable_sync.rate_limit where base_id = %s", (DEMO_BASE_ID,)
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def backfill_phase(args: argparse.Namespace, stack: Stack, watcher: MirrorWatcher) -> dict:
    reset_stats(stack.sandbox_url)
    requests_before, fast_before = lane_requests(stack.database_url)
    before = load()
    with (WORK / "sync_full.log").open("wb") as log:
        started = time.monotonic()
        sync = subprocess.Popen([sys.executable, "-m", "airtable_pg", "sync", "--full"], env=stack.env, cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        time.sleep(BACKFILL_LEAD_SECONDS)
        users = Provisioning(stack.sandbox_url, args.users, args.rate, "backfill", watcher.await_users).start()
        sync.wait()
        seconds = time.monotonic() - started
        ended = time.time()
    if sync.returncode != 0:
        raise RuntimeError(f"airtable-pg sync --full exited {sync.returncode}; see {WORK}/sync_full.log")
    created = users.join()
    arrived = watcher.wait_for_all(users, ARRIVAL_TIMEOUT_SECONDS)
    requests_after, fast_after = lane_requests(stack.database_url)
    records = mirror_live_rows(stack.database_url) - len(created)  # the base's own records, without ours
    during = [user for user in created if user.created_at <= ended]
    return {
        "sync_seconds": seconds,
        "records": records,
        "records_per_s": records / seconds,
        "share_of_ceiling": records / seconds / CEILING_RECORDS_PER_S,
        "users_created": len(created),
        "users_created_during_sync": len(during),
        "all_arrived": arrived,
        "latency_during_sync": latency_report(stack.database_url, during, watcher.seen),
        "latency_all": latency_report(stack.database_url, created, watcher.seen),
        "limiter_requests": requests_after - requests_before,
        "fast_lane_requests": fast_after - fast_before,
        "sandbox": sandbox_stats(stack.sandbox_url),
        "load_before": before,
        "load_after": load(),
    }


def idle_phase(args: argparse.Namespace, stack: Stack, watcher: MirrorWatcher) -> dict:
    reset_stats(stack.sandbox_url)
    before = load()
    users = Provisioning(stack.sandbox_url, args.idle_users, args.idle_rate, "idle", watcher.await_users).start()
    created = users.join()
    arrived = watcher.wait_for_all(users, ARRIVAL_TIMEOUT_SECONDS)
    return {
        "users_created": len(created),
        "all_arrived": arrived,
        "latency": latency_report(stack.database_url, created, watcher.seen),
        "sandbox": sandbox_stats(stack.sandbox_url),
        "load_before": before,
        "load_after": load(),
    }


def cost_phase(args: argparse.Namespace, stack: Stack) -> dict:
    reset_stats(stack.sandbox_url)
    before = load()
    applier = applier_window(stack.sandbox_url, args.window)
    stack.stop()  # the ticks below are counted alone
    os.environ.update(stack.env)  # the code location, loaded in this process, reads its settings from there
    passes = measure_ticks(stack.sandbox_url, stack.database_url)
    rows = [applier, *passes["idle"]]
    total = sum(row["per_hour"] for row in rows)
    return {
        "rows": rows,
        "settling_rows": passes["settling"],
        "per_hour": total,
        "share_of_base_limit": total / REQUESTS_PER_HOUR_CEILING,
        "sandbox": sandbox_stats(stack.sandbox_url),
        "load_before": before,
        "load_after": load(),
    }


def run(args: argparse.Namespace, server_url: str) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    extra = ("--notification-delay-ms", str(args.notification_delay_ms))
    sandbox, sandbox_url = start_sandbox(args.records, args.latency_ms, *extra)
    stack = None
    try:
        database_url = fresh_database(server_url, f"bench_fast_lane_{int(time.time())}")
        stack = start_live_children(args, sandbox_url, database_url, server_url)
        watcher = MirrorWatcher(database_url)
        try:
            backfill = backfill_phase(args, stack, watcher)
            idle = idle_phase(args, stack, watcher)
        finally:
            watcher.stop()
        cost = cost_phase(args, stack)
        return {
            "records": args.records,
            "latency_ms": args.latency_ms,
            "notification_delay_ms": args.notification_delay_ms,
            "rate_users_per_s": args.rate,
            "idle_rate_users_per_s": args.idle_rate,
            "cores": os.cpu_count(),
            "idle": idle,
            "backfill": backfill,
            "requests_per_hour": cost,
        }
    finally:
        if stack is not None:
            stack.stop()
        sandbox.terminate()
        sandbox.wait(timeout=30)


def rate_limited(result: dict) -> int:
    phases = (result["idle"], result["backfill"], result["requests_per_hour"])
    return sum(phase["sandbox"].get("rate_limited", 0) for phase in phases)


def _latency_cells(stats: dict) -> str:
    if not stats.get("count"):
        return "–"
    return " / ".join(f"{stats[k]:.2f}" for k in ("p50_s", "p95_s", "p99_s", "max_s")) + " s"


def render(result: dict) -> str:
    idle, backfill, cost = result["idle"], result["backfill"], result["requests_per_hour"]
    during = backfill["latency_during_sync"]
    lines = [
        f"| fast lane: {result['records']:,} records, {result['latency_ms']} ms latency, "
        f"{result['notification_delay_ms']} ms ping delay | value |",
        "|---|---|",
        f"| idle, {idle['users_created']} users at {result['idle_rate_users_per_s']}/s: createdTime → committed, "
        f"p50 / p95 / p99 / max | "
        f"{_latency_cells(idle['latency']['committed'])} |",
        f"| idle: createdTime → visible to a mirror poll, p50 / p95 / p99 / max | "
        f"{_latency_cells(idle['latency']['visible'])} |",
        f"| backfill, {backfill['users_created_during_sync']} users created during the sync at "
        f"{result['rate_users_per_s']}/s: createdTime → "
        f"committed, p50 / p95 / p99 / max | {_latency_cells(during['committed'])} |",
        f"| backfill: createdTime → visible, p50 / p95 / p99 / max | {_latency_cells(during['visible'])} |",
        f"| backfill: how the users arrived | {', '.join(f'{n} by {s}' for s, n in during['by_source'].items())} |",
        f"| backfill: `sync --full` of {backfill['records']:,} records | {backfill['sync_seconds']:.1f} s, "
        f"{backfill['records_per_s']:.1f} records/s = **{backfill['share_of_ceiling']:.1%}** of 500/s |",
        f"| backfill: requests (fast lane) / peak per second / 429s | {backfill['limiter_requests']:,} "
        f"({backfill['fast_lane_requests']}) / {backfill['sandbox'].get('peak_per_second')} / "
        f"{backfill['sandbox'].get('rate_limited', 0)} |",
        f"| idle base: API requests per hour, all of it | **{cost['per_hour']:,.0f}** "
        f"({cost['share_of_base_limit']:.1%} of the base's 18,000) |",
        f"| load average (1 min) before / after the backfill | {backfill['load_before']['load_1m']:.2f} / "
        f"{backfill['load_after']['load_1m']:.2f} |",
        "",
        "| idle base: what spends requests | per tick | every | per hour |",
        "|---|---|---|---|",
    ]
    for row in cost["rows"]:
        lines.append(f"| {row['what']} | {row['requests']} | {row['every']} | {row['per_hour']:,.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="demo records to backfill")
    parser.add_argument("--users", type=int, default=300, help="users created during the backfill")
    parser.add_argument("--idle-users", type=int, default=60, help="users created with nothing else running")
    parser.add_argument("--rate", type=float, default=1.5, help="users created per second during the backfill")
    parser.add_argument(
        "--idle-rate", type=float, default=0.5, help="users created per second when idle (0.5: each user alone)"
    )
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--notification-delay-ms", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds the idle applier's requests are counted")
    parser.add_argument("--out", default="benchmarks/results/fast_lane.json")
    burners.add_argument(parser)
    args = parser.parse_args(argv)
    result = harness.run_and_save(args, run, render)
    problems = ["the sandbox answered 429 (the rate limit was exceeded)"] if rate_limited(result) else []
    if not (result["idle"]["all_arrived"] and result["backfill"]["all_arrived"]):
        problems.append(f"a user never reached Postgres within {ARRIVAL_TIMEOUT_SECONDS:.0f} s")
    return harness.verdict(problems)


if __name__ == "__main__":
    sys.exit(main())
