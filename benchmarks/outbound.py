"""Outbound benchmark: the app's changes pushed to the sandbox at Airtable's limits.

Run: ``python -m benchmarks.outbound`` (``--changes 5000 --latency-ms 300``).

A sandbox child process with Airtable's real limits (5 requests/s per base, 30 s penalty after a 429) and a fixed
latency per request; a fresh database migrated with the demo chain; pushers following the outbox as
``airtable-pg outbound run --follow`` does (``--pushers``, default 3).

- Idle: ``--idle`` single inserts, one every 1.5 s; each timed from the app's commit to the moment the pusher
  committed Airtable's answer (``PushReport.lag_seconds``) — and, independently, until the record is readable
  from the sandbox.
- Burst: ``--changes`` inserts committed at once (100 per transaction); records/s from the first commit to the
  last answer committed, as a share of the ceiling (5 requests/s × 10 records = 50 records/s); lag p50/p95.

Results go to ``benchmarks/results/outbound.json`` and a markdown table to stdout. Any 429 makes the run invalid
(exit 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

from benchmarks import burners
from benchmarks.full_sync import (
    DEMO_BASE_ID,
    fresh_database,
    reset_stats,
    sandbox_runtime,
    sandbox_stats,
    start_sandbox,
)

CEILING_RECORDS_PER_S = 50.0
GOALS_TABLE = "tblPersonalGoals1"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))] if ordered else float("nan")


def run(changes: int, idle: int, latency_ms: int, pushers: int, server_url: str) -> dict:
    from airtable_pg.airtable.client import RequestStats, make_api
    from airtable_pg.postgres.database import libpq_url
    from airtable_pg.sync.outbound import PushReport, follow_all, wait_until_pushed

    proc, url = start_sandbox(20, latency_ms)
    try:
        database_url = fresh_database(server_url, f"bench_outbound_{int(time.time())}")
        runtime = sandbox_runtime(database_url, url)
        db = runtime.db
        workers = [runtime.pusher() for _ in range(pushers)]
        workers[0].ensure_key_fields()
        reports: list[PushReport] = []
        lock = threading.Lock()

        def collect(report: PushReport) -> None:
            with lock:
                reports.append(report)

        stop = threading.Event()
        follower = threading.Thread(
            target=follow_all, args=(workers, database_url, stop), kwargs={"on_pushed": collect}, daemon=True
        )
        follower.start()
        time.sleep(1.0)
        reset_stats(url)
        insert = "insert into airtable.personal_goals (title, priority, status) values (%s, %s, %s) returning id::text"
        with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
            visible: list[float] = []
            api = make_api(runtime.airtable, None, RequestStats())  # the watcher's reads stay out of the bucket
            for n in range(idle):
                committed = time.monotonic()
                row_id = conn.execute(insert, (f"idle {n}", 3, "Not started")).fetchone()[0]
                formula = f"{{airtable_pg_id}} = '{row_id}'"
                while not api.table(DEMO_BASE_ID, GOALS_TABLE).first(formula=formula):
                    time.sleep(0.05)
                visible.append(time.monotonic() - committed)
                time.sleep(1.5)
            assert wait_until_pushed(db, 30)
            with lock:
                idle_lags = [lag for report in reports for lag in report.lag_seconds]
                reports.clear()
            burst_start = time.monotonic()
            for start in range(0, changes, 100):
                with conn.transaction():
                    for n in range(start, min(changes, start + 100)):
                        conn.execute(insert, (f"burst {n}", 1 + n % 5, "In progress"))
            committed = time.monotonic() - burst_start
            assert wait_until_pushed(db, 3600, poll=0.2)
            elapsed = time.monotonic() - burst_start
        stop.set()
        follower.join(timeout=30)
        burst_lags = [lag for report in reports for lag in report.lag_seconds]
        stats = sandbox_stats(url)
        records_per_s = changes / elapsed
        return {
            "changes": changes,
            "latency_ms": latency_ms,
            "pushers": pushers,
            "idle": {
                "changes": idle,
                "lag_p50_s": statistics.median(idle_lags),
                "lag_p95_s": percentile(idle_lags, 0.95),
                "visible_p50_s": statistics.median(visible),
                "visible_p95_s": percentile(visible, 0.95),
            },
            "burst": {
                "commit_seconds": committed,
                "seconds": elapsed,
                "records_per_s": records_per_s,
                "share_of_ceiling": records_per_s / CEILING_RECORDS_PER_S,
                "lag_p50_s": statistics.median(burst_lags),
                "lag_p95_s": percentile(burst_lags, 0.95),
                "pushed": sum(1 for _ in burst_lags),
            },
            "requests": stats.get("served"),
            "rate_limited_429": stats.get("rate_limited", 0),
            "peak_per_second": stats.get("peak_per_second"),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def render(result: dict) -> str:
    idle, burst = result["idle"], result["burst"]
    return "\n".join(
        [
            f"| outbound, {result['latency_ms']} ms latency, {result['pushers']} pushers | value |",
            "|---|---|",
            f"| idle: commit → answer committed, p50 / p95 | {idle['lag_p50_s']:.2f} s / {idle['lag_p95_s']:.2f} s |",
            f"| idle: commit → readable from Airtable, p50 / p95 | {idle['visible_p50_s']:.2f} s / "
            f"{idle['visible_p95_s']:.2f} s |",
            f"| burst of {result['changes']:,}: records/s (share of the 50/s ceiling) | {burst['records_per_s']:.1f} "
            f"({burst['share_of_ceiling']:.0%}) |",
            f"| burst: commit → answer committed, p50 / p95 | {burst['lag_p50_s']:.1f} s / "
            f"{burst['lag_p95_s']:.1f} s |",
            f"| requests served / peak per second / 429s | {result['requests']} / {result['peak_per_second']} / "
            f"{result['rate_limited_429']} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--pushers", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/outbound.json")
    burners.add_argument(parser)
    args = parser.parse_args(argv)
    from airtable_pg.postgres.embedded import start_embedded

    server_url = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    with burners.burning(args.burn) as burn:
        result = run(args.changes, args.idle, args.latency_ms, args.pushers, server_url)
    result["burners"] = burn
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(render(result))
    if result["rate_limited_429"]:
        print("\nNOT A VALID RESULT: the sandbox answered 429 (the rate limit was exceeded)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
