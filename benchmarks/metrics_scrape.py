"""Cost of one ``/metrics`` scrape on the 100,000-record demo base: milliseconds and queries per scrape.

Run: ``python -m benchmarks.metrics_scrape --records 100000``. A sandbox without rate limits serves the demo base,
``airtable-pg sync --full`` imports it (each record a ``change_event`` row), then the state collector is timed
(``--scrapes`` reads, in process) and ``GET /metrics`` through the receiver over HTTP. Then ``--live-changes``
live changes (webhook and poll, a statement of 1,000 at a time through the latency trigger) are added, as weeks
of a live sync would, and both are timed again: the scrape reads the trigger-kept histogram, never
``change_event``, so its cost should not grow with them. Results go to ``benchmarks/results/metrics_scrape.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from benchmarks.full_sync import TOKEN, fresh_database, start_sandbox
from benchmarks.harness import run_and_save

LIVE_BATCH = 1000


def timed(fn, times: int) -> list[float]:
    found = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        found.append((time.perf_counter() - started) * 1000)
    return found


def summary(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2), "max_ms": round(ordered[-1], 2)}  # fmt: skip


def measure_scrapes(database_url: str, scrapes: int) -> dict:
    import requests

    from airtable_pg.observability.metrics import scrape
    from airtable_pg.postgres.database import connection_pool
    from airtable_pg.receiver.app import build_app
    from airtable_pg.receiver.server import ReceiverServer
    from airtable_pg.spec import load_spec

    spec, db = load_spec(), connection_pool(database_url)
    first = scrape(db, spec)
    assert first.ok, "the scrape failed"
    collector = summary(timed(lambda: scrape(db, spec), scrapes))
    with ReceiverServer(build_app(database_url, spec=spec)) as server:
        body = requests.get(server.url + "/metrics", timeout=30).text
        http = summary(timed(lambda: requests.get(server.url + "/metrics", timeout=30).raise_for_status(), scrapes))
    return {"queries_per_scrape": first.queries, "collector": collector, "http": http,
            "exposition_bytes": len(body.encode()), "series": sum(1 for line in body.splitlines()
                                                                  if line and not line.startswith("#"))}  # fmt: skip


def add_live_changes(database_url: str, count: int) -> float:
    import psycopg

    from airtable_pg.postgres.database import libpq_url

    started = time.perf_counter()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for offset in range(0, count, LIVE_BATCH):
            conn.execute(
                "insert into airtable_sync.change_event (base_id, table_id, airtable_id, kind, source, source_time) "
                "select 'appCoachingDemo01', (array['tblUsers000000001', 'tblPrograms000001'])[1 + n %% 2], "
                "'rec' || lpad(to_hex(n), 14, '0'), 'updated', (array['webhook', 'poll'])[1 + n %% 2], "
                "now() - make_interval(secs => (n %% 90)) from generate_series(%s::int, %s::int) n",
                (offset, min(offset + LIVE_BATCH, count) - 1),
            )
    return round(time.perf_counter() - started, 1)


def trigger_overhead(database_url: str, rows: int = 100_000) -> dict:
    """What the latency trigger adds to a writer's inserts: ``rows`` change events in batches of 1,000, with the
    trigger and without it (disabled inside a transaction that is rolled back, so nothing stays)."""
    import psycopg

    from airtable_pg.postgres.database import libpq_url

    insert = ("insert into airtable_sync.change_event (base_id, table_id, airtable_id, kind, source, source_time) "
              "select 'appBench', 'tblBench', 'rec' || n, 'updated', %s, now() - interval '2 seconds' "
              "from generate_series(%s::int, %s::int) n")  # fmt: skip
    found = {}
    for label, source, disable in (("live_with_trigger", "webhook", False), ("live_without_trigger", "webhook", True),
                                   ("full_with_trigger", "full", False), ("full_without_trigger", "full", True)):
        with psycopg.connect(libpq_url(database_url)) as conn:
            if disable:
                conn.execute("alter table airtable_sync.change_event disable trigger change_event_latency")
            started = time.perf_counter()
            for offset in range(0, rows, LIVE_BATCH):
                conn.execute(insert, (source, offset, offset + LIVE_BATCH - 1))
            found[label] = round(time.perf_counter() - started, 2)
            conn.rollback()
    return {"rows": rows, "seconds": found}


def run(args: argparse.Namespace, server_url: str) -> dict:
    if args.database:  # a database an earlier run of this benchmark synced (the sync takes minutes)
        from airtable_pg.postgres.database import with_database

        database_url = with_database(server_url, args.database)
        result: dict = {"records": args.records, "sync_seconds": None, "database": args.database}
    else:
        database_url, seconds = synced_database(args.records, server_url)
        result = {"records": args.records, "sync_seconds": seconds}
    result["after_full_sync"] = measure_scrapes(database_url, args.scrapes)
    result["live_changes"] = args.live_changes
    result["live_changes_insert_seconds"] = add_live_changes(database_url, args.live_changes)
    result["after_live_changes"] = measure_scrapes(database_url, args.scrapes)
    result["trigger_overhead"] = trigger_overhead(database_url)
    return result


def synced_database(records: int, server_url: str) -> tuple[str, float]:
    proc, sandbox_url = start_sandbox(records, 0, "--rate-limit", "0", "--token-rate-limit", "0")
    try:
        database_url = fresh_database(server_url, f"bench_metrics_{os.getpid()}")
        env = dict(os.environ, AIRTABLE_API_KEY=TOKEN, AIRTABLE_API_URL=sandbox_url, DATABASE_URL=database_url,
                   AIRTABLE_PG_RATE_LIMIT="1000", AIRTABLE_PG_TOKEN_RATE_LIMIT="0")  # fmt: skip
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "airtable_pg", "sync", "--full"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        return database_url, round(time.perf_counter() - started, 1)
    finally:
        proc.terminate()
        proc.wait(30)


def render(report: dict) -> str:
    lines = [
        f"`/metrics` on the {report['records']:,}-record demo base:",
        "",
        "| state | queries per scrape | collector median / p95 ms | HTTP GET median / p95 ms | series | bytes |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in (("after the full sync", "after_full_sync"),
                       (f"+ {report['live_changes']:,} live changes", "after_live_changes")):  # fmt: skip
        r = report[key]
        lines.append(f"| {label} | {r['queries_per_scrape']} | {r['collector']['median_ms']} / "
                     f"{r['collector']['p95_ms']} | {r['http']['median_ms']} / {r['http']['p95_ms']} | "
                     f"{r['series']} | {r['exposition_bytes']:,} |")  # fmt: skip
    overhead = report["trigger_overhead"]
    lines += ["", f"Inserting {overhead['rows']:,} change events in statements of 1,000 (the latency trigger's cost):",
              "", "| events | with the trigger s | without s |", "|---|---|---|"]  # fmt: skip
    for kind in ("live", "full"):
        s = overhead["seconds"]
        lines.append(f"| {kind} | {s[f'{kind}_with_trigger']} | {s[f'{kind}_without_trigger']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--live-changes", type=int, default=200_000)
    parser.add_argument("--database", help="measure this already-synced database of the benchmarks' server instead")
    parser.add_argument("--burn", type=int, default=0, help="CPU burners beside the run (see benchmarks.burners)")
    parser.add_argument("--out", default="benchmarks/results/metrics_scrape.json")
    run_and_save(parser.parse_args(argv), run, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
