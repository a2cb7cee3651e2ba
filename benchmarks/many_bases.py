"""Many bases on one token: 20 bases × 5,000 records imported at once, the token's 50 requests/s binding.

Run: ``python -m benchmarks.many_bases`` (``--bases 20 --records 5000 --latency-ms 300 --processes 4 --workers 12
--users 40 --rate 1``; ``--burn N`` adds CPU burners; ``--resync`` then runs the same full syncs again, each
table planned from the mirror, as a periodic reconciliation would).

One sandbox holds ``--bases`` copies of the demo base (``appCoachingDemo01`` …), each ``--records`` records, with
Airtable's limits (5 requests/s per base, **50 requests/s per token**, 30 s penalty) and ``--latency-ms`` per request.
``--processes`` ``airtable-pg sync --full`` processes (each ``--workers`` requests in flight) share the bases between
them on one fresh database, so the per-token bucket is shared across processes as in a deployment. Meanwhile the
live path of base 01 (receiver, ``webhooks apply --follow``, a hook pinging 1 s after each change; as
``benchmarks.fast_lane`` runs it) provisions ``--users`` users created at ``--rate`` per second: their latency is
the users fast lane's, while 20 bases compete for the token.

Reported: records/s against the token's ceiling (50 × 100 = 5,000 records/s), 429s (any → exit 1), the token's
peak requests per second as the sandbox counted them, each base's own records/s (fair share: no base starves) and
the users' provisioning latency. Results: ``benchmarks/results/many_bases.json``.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
import yaml

from airtable_sandbox.demo_project import DEMO_MIGRATIONS
from benchmarks import burners, harness
from benchmarks.fast_lane import ARRIVAL_TIMEOUT_SECONDS, load, start_live_children
from benchmarks.full_sync import reset_stats, start_sandbox
from benchmarks.provisioning import MirrorWatcher, Provisioning, latency_report

REPO = Path(__file__).resolve().parents[1]
WORK = Path(".airtable_pg/bench-many-bases").resolve()
TOKEN_CEILING_RECORDS_PER_S = 50 * 100.0
BACKFILL_LEAD_SECONDS = 3.0
# The database is at the demo chain's heads; the copies' tables are made from the spec (create_mirrors).


def many_bases_spec(bases: int) -> dict:
    """The demo spec with ``bases`` copies of its base: base 01 keeps schema ``airtable``, the others their own."""
    from airtable_pg.spec import load_spec, spec_to_dict
    from airtable_sandbox.demo import demo_base_id

    demo = spec_to_dict(load_spec())
    ((key, body),) = demo["bases"].items()
    raw = {"version": 1, "bases": {key: body}}
    for number in range(2, bases + 1):
        raw["bases"][f"{key}{number:02d}"] = {**copy.deepcopy(body), "id": demo_base_id(number),
                                              "schema": f"{key}{number:02d}"}  # fmt: skip
    return raw


def write_specs(raw: dict, processes: int) -> list[Path]:
    """One spec file per sync process, the bases dealt round-robin."""
    keys = list(raw["bases"])
    paths = []
    for index in range(processes):
        part = {"version": 1, "bases": {key: raw["bases"][key] for key in keys[index::processes]}}
        path = WORK / f"spec_{index}.yaml"
        path.write_text(yaml.safe_dump(part, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def create_mirrors(database_url: str, raw: dict) -> None:
    """The copies' mirror tables (base 01's come from the demo migrations, in schema ``airtable``)."""
    from airtable_pg.postgres.database import sqlalchemy_url
    from airtable_pg.postgres.schema import build_metadata
    from airtable_pg.spec import parse_spec

    copies = {"version": 1, "bases": {k: v for k, v in raw["bases"].items() if v.get("schema") != "airtable"}}
    spec = parse_spec(copies)
    engine = sa.create_engine(sqlalchemy_url(database_url))
    with engine.begin() as conn:
        for base in spec.bases.values():
            conn.execute(sa.text(f'create schema if not exists "{base.schema}"'))  # our own names: coachingNN
        build_metadata(spec).create_all(conn)
    engine.dispose()


def token_stats(url: str) -> dict:
    import requests

    from benchmarks.full_sync import TOKEN

    stats = requests.get(f"{url}/_sandbox/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    return {"token": stats["token"], "bases": stats["bases"]}


def per_base_rows(database_url: str, raw: dict) -> dict[str, int]:
    from airtable_pg.postgres.database import sqlalchemy_url
    from airtable_pg.spec import parse_spec

    spec = parse_spec(raw)
    engine = sa.create_engine(sqlalchemy_url(database_url))
    rows: dict[str, int] = {}
    with engine.connect() as conn:
        for base, table in spec.tables():
            mirror = sa.table(table.mirror, sa.column("deleted_at"), schema=base.schema)
            count = conn.execute(sa.select(sa.func.count()).select_from(mirror)).scalar_one()
            rows[base.id] = rows.get(base.id, 0) + count
    engine.dispose()
    return rows


class Sampler:
    """The token's served requests over time, from the sandbox's counters (every half second)."""

    def __init__(self, sandbox_url: str) -> None:
        self.samples: list[tuple[float, int]] = []
        self._url = sandbox_url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append((time.monotonic(), token_stats(self._url)["token"]["served"]))

    def steady_rate(self) -> float:
        """Requests/s between 5 % and 95 % of the run's requests: while every sync is busy."""
        self._stop.set()
        self._thread.join()
        total = self.samples[-1][1]
        low = next(s for s in self.samples if s[1] >= 0.05 * total)
        high = next(s for s in self.samples if s[1] >= 0.95 * total)
        return (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else 0.0


def backfill(args: argparse.Namespace, env: dict[str, str], specs: list[Path], watcher: MirrorWatcher,
             sandbox_url: str) -> dict:  # fmt: skip
    reset_stats(sandbox_url)
    before = load()
    syncs = []
    sampler = Sampler(sandbox_url)
    started = time.monotonic()
    for index, spec in enumerate(specs):
        log = (WORK / f"sync_{index}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "airtable_pg", "sync", "--full", "--workers", str(args.workers)],
            env={**env, "AIRTABLE_PG_SPEC": str(spec), "AIRTABLE_PG_MIGRATIONS": str(DEMO_MIGRATIONS)},
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        syncs.append((process, log))
    time.sleep(BACKFILL_LEAD_SECONDS)  # users start once the syncs are past their imports
    users = Provisioning(sandbox_url, args.users, args.rate, "backfill", watcher.await_users).start()
    finished = []
    for process, log in syncs:
        process.wait()
        log.close()
        finished.append(time.monotonic() - started)
    seconds = time.monotonic() - started
    ended = time.time()
    steady = sampler.steady_rate()
    failed = [index for index, (process, _) in enumerate(syncs) if process.returncode != 0]
    if failed:
        raise RuntimeError(f"sync processes {failed} failed; see {WORK}/sync_*.log")
    created = users.join()
    arrived = watcher.wait_for_all(users, ARRIVAL_TIMEOUT_SECONDS)
    during = [user for user in created if user.created_at <= ended]
    return {
        "seconds": seconds,
        "process_seconds": finished,
        "steady_requests_per_s": steady,
        "users_created": len(created),
        "users_created_during_sync": len(during),
        "all_arrived": arrived,
        "latency_during_sync": latency_report(env["DATABASE_URL"], during, watcher.seen),
        "sandbox": token_stats(sandbox_url),
        "load_before": before,
        "load_after": load(),
    }


def run(args: argparse.Namespace, server_url: str) -> dict:
    from benchmarks.full_sync import fresh_database

    WORK.mkdir(parents=True, exist_ok=True)
    raw = many_bases_spec(args.bases)
    specs = write_specs(raw, args.processes)
    extra = ("--bases", str(args.bases), "--notification-delay-ms", "1000")
    sandbox, sandbox_url = start_sandbox(args.records, args.latency_ms, *extra)
    stack = None
    try:
        database_url = fresh_database(server_url, f"bench_many_bases_{int(time.time())}")
        create_mirrors(database_url, raw)
        stack = start_live_children(args, sandbox_url, database_url, server_url)
        watcher = MirrorWatcher(database_url)
        try:
            result = backfill(args, stack.env, specs, watcher, sandbox_url)
            rows = per_base_rows(database_url, raw)
            if args.resync:  # the same full syncs again: every record re-read, each table planned from the mirror
                again = backfill(args, stack.env, specs, watcher, sandbox_url)
                reread = sum(per_base_rows(database_url, raw).values()) - again["users_created"]
                result["resync"] = {
                    **{k: again[k] for k in ("seconds", "process_seconds", "steady_requests_per_s", "sandbox")},
                    "records": reread,
                    "records_per_s": reread / again["seconds"],
                    "share_of_token_ceiling": reread / again["seconds"] / TOKEN_CEILING_RECORDS_PER_S,
                    "latency_during_sync": again["latency_during_sync"],
                    "all_arrived": again["all_arrived"],
                }
        finally:
            watcher.stop()
        result["rows_per_base"] = rows
        records = sum(rows.values()) - result["users_created"]
        result |= {
            "bases": args.bases,
            "records_per_base": args.records,
            "records": records,
            "records_per_s": records / result["seconds"],
            "share_of_token_ceiling": records / result["seconds"] / TOKEN_CEILING_RECORDS_PER_S,
            "latency_ms": args.latency_ms,
            "processes": args.processes,
            "workers": args.workers,
        }
        return result
    finally:
        if stack is not None:
            stack.stop()
        sandbox.terminate()
        sandbox.wait(timeout=30)


def render(result: dict) -> str:
    token = result["sandbox"]["token"]
    bases = result["sandbox"]["bases"]
    served = sorted(b["served"] for base_id, b in bases.items() if base_id.startswith("appCoachingDemo"))
    latency = result["latency_during_sync"]["committed"]
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| records (bases × records) | {result['records']:,} ({result['bases']} × {result['records_per_base']:,}) |",
        f"| seconds, all syncs | {result['seconds']:.1f} |",
        f"| records/s (share of the token's 5,000/s) | {result['records_per_s']:,.0f} "
        f"(**{result['share_of_token_ceiling']:.1%}**) |",
        f"| requests served / token's peak per second / 429s | {token['served']:,} / {token['peak_per_second']} / "
        f"{token['rate_limited']} |",
        f"| requests/s while every base synced (5 %–95 % of the requests) | {result['steady_requests_per_s']:.1f} "
        f"({result['steady_requests_per_s'] / 50:.1%} of the token's 50/s) |",
        f"| requests per base, min / median / max | {served[0]} / {statistics.median(served):.0f} / {served[-1]} |",
        f"| sync processes finished after (s) | {', '.join(f'{s:.1f}' for s in result['process_seconds'])} |",
        f"| users provisioned during the syncs, p50 / p95 / max | {result['users_created_during_sync']}: "
        f"{latency['p50_s']:.2f} s / {latency['p95_s']:.2f} s / {latency['max_s']:.2f} s |",
        f"| load average before / after | {result['load_before']['load_1m']:.1f} / "
        f"{result['load_after']['load_1m']:.1f} |",
    ]
    again = result.get("resync")
    if again:
        token, latency = again["sandbox"]["token"], again["latency_during_sync"]["committed"]
        lines += [
            f"| re-sync (the same full syncs again, planned from the mirror): seconds | {again['seconds']:.1f} |",
            f"| re-sync records/s (share of 5,000/s) | {again['records_per_s']:,.0f} "
            f"(**{again['share_of_token_ceiling']:.1%}**) |",
            f"| re-sync requests / token's peak per second / 429s | {token['served']:,} / "
            f"{token['peak_per_second']} / {token['rate_limited']} |",
            f"| re-sync users provisioned, p50 / p95 / max | {latency['p50_s']:.2f} s / {latency['p95_s']:.2f} s / "
            f"{latency['max_s']:.2f} s |",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=int, default=20)
    parser.add_argument("--records", type=int, default=5000, help="demo records per base")
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--processes", type=int, default=4, help="sync processes sharing the bases")
    parser.add_argument("--workers", type=int, default=12, help="requests in flight per sync process")
    parser.add_argument("--users", type=int, default=40, help="users created in base 01 during the syncs")
    parser.add_argument("--rate", type=float, default=1.0, help="users created per second")
    parser.add_argument("--resync", action="store_true",
                        help="then run the same full syncs again (a reconciliation: the mirror holds every row)")
    parser.add_argument("--out", default="benchmarks/results/many_bases.json")
    burners.add_argument(parser)
    args = parser.parse_args(argv)
    result = harness.run_and_save(args, run, render)
    problems = []
    for phase in [result, *([result["resync"]] if "resync" in result else [])]:
        if phase["sandbox"]["token"]["rate_limited"]:
            problems.append("the sandbox answered 429 (a rate limit was exceeded)")
        if not phase["all_arrived"]:
            problems.append("a user never reached Postgres")
    return harness.verdict(problems)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
