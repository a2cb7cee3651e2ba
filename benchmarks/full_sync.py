"""Full-sync benchmark: airtable_pg's engine vs the naive way, against the sandbox at Airtable's limits.

Run: ``make bench`` (or ``python -m benchmarks.full_sync --records 100000``).

Both contenders run in their own child process (so peak memory is theirs alone) against one sandbox
child process with Airtable's real limits (5 requests/s per base, 30 s penalty after a 429) and a
fixed latency per request (300 ms by default; Airtable answers in 300–800 ms). Results are written
to ``benchmarks/results/full_sync.json`` and a markdown table to stdout.

- Ceiling: 5 requests/s × 100 records per page = 500 records/s.
- Naive: what a person writes by hand — pyairtable ``Table.all()`` per table, then pandas ``to_sql``.
- Memory flatness: the engine is also run on a tenth of the records; peak RSS should barely move.
- End to end: ``airtable-pg sync --full`` as a user runs it, timed from process start to exit (imports,
  settings, connecting, planning, the last table's tombstone pass, the summary), on a 20,000-record demo
  against its own sandbox with the same settings.

Every run must see zero 429s from the sandbox; otherwise the benchmark exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from benchmarks import burners

if TYPE_CHECKING:  # the benchmark's parent process starts servers; only the measuring code imports the package
    from airtable_pg.runtime import Runtime

CEILING_RECORDS_PER_S = 500.0
TOKEN = "patBenchmarkToken.local"
DEMO_BASE_ID = "appCoachingDemo01"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(records: int, latency_ms: int, *extra_args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airtable_pg",
            "sandbox",
            "--records",
            str(records),
            "--port",
            str(port),
            "--token",
            TOKEN,
            "--latency-ms",
            str(latency_ms),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            requests.get(f"{url}/v0/meta/whoami", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
            return proc, url
        except requests.RequestException:  # not listening yet, or busy loading its records
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("sandbox did not start")


def sandbox_stats(url: str) -> dict:
    """The demo base's request counters as the sandbox counted them (served, 429s, peak per second)."""
    stats = requests.get(f"{url}/_sandbox/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    return stats["bases"].get(DEMO_BASE_ID, {})


def reset_stats(url: str) -> None:
    requests.post(f"{url}/_sandbox/stats/reset", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def run_child(mode: str, sandbox_url: str, database_url: str, workers: int) -> dict:
    """Run one contender in a child process; returns its JSON report plus its peak RSS."""
    env = dict(os.environ, AIRTABLE_API_KEY=TOKEN, AIRTABLE_API_URL=sandbox_url, DATABASE_URL=database_url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.contenders", mode, "--workers", str(workers)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{out.stderr[-4000:]}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the max over all waited-for children; each contender runs alone, and the
    # contender reports its own peak too (the authoritative number).
    report.setdefault("peak_rss_mib", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    report["children_maxrss_before_mib"] = before / 1024
    return report


def fresh_database(server_url: str, name: str) -> str:
    from airtable_pg.postgres.database import ensure_database, with_database
    from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, upgrade

    ensure_database(server_url, name)
    url = with_database(server_url, name)
    upgrade(alembic_config(url, versions=DEMO_VERSIONS))
    return url


def sandbox_runtime(database_url: str, sandbox_url: str) -> Runtime:
    """A benchmark's runtime: the demo spec on a database ``fresh_database`` migrated, the sandbox as Airtable."""
    from airtable_pg.airtable.client import AirtableConfig
    from airtable_pg.postgres.migrate import DEMO_VERSIONS
    from airtable_pg.runtime import Runtime
    from airtable_pg.spec import load_spec

    airtable = AirtableConfig(api_key=TOKEN, api_url=sandbox_url)
    return Runtime.open(load_spec(), database_url, airtable, migrations=DEMO_VERSIONS)


def measure(records: int, latency_ms: int, workers: int, server_url: str, label: str, naive: bool) -> dict:
    proc, url = start_sandbox(records, latency_ms)
    try:
        result: dict = {"records": records, "latency_ms": latency_ms}
        reset_stats(url)
        db = fresh_database(server_url, f"bench_engine_{label}_{os.getpid()}")
        result["engine"] = run_child("engine", url, db, workers)
        result["engine"]["sandbox"] = sandbox_stats(url)
        if naive:
            reset_stats(url)
            db = fresh_database(server_url, f"bench_naive_{label}_{os.getpid()}")
            result["naive"] = run_child("naive", url, db, workers)
            result["naive"]["sandbox"] = sandbox_stats(url)
        return result
    finally:
        proc.terminate()
        proc.wait(30)


def mirror_live_rows(database_url: str) -> int:
    """Live rows in every mirror table of the demo spec: what the sync actually delivered."""
    import sqlalchemy as sa

    from airtable_pg.postgres.database import sqlalchemy_url
    from airtable_pg.spec import load_spec

    def live_rows(schema: str, name: str) -> sa.Select:
        mirror = sa.table(name, sa.column("deleted_at"), schema=schema)  # quoted by SQLAlchemy
        return sa.select(sa.func.count()).select_from(mirror).where(mirror.c.deleted_at.is_(None))

    engine = sa.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            return sum(
                conn.execute(live_rows(base.schema, table.mirror)).scalar_one() for base, table in load_spec().tables()
            )
    finally:
        engine.dispose()


def measure_end_to_end(records: int, latency_ms: int, workers: int, server_url: str) -> dict:
    """``airtable-pg sync --full`` in a fresh process on a fresh database: process start to exit."""
    proc, url = start_sandbox(records, latency_ms)
    try:
        db = fresh_database(server_url, f"bench_e2e_{records}_{os.getpid()}")
        reset_stats(url)
        env = dict(os.environ, AIRTABLE_API_KEY=TOKEN, AIRTABLE_API_URL=url, DATABASE_URL=db)
        command = [sys.executable, "-m", "airtable_pg", "sync", "--full", "--workers", str(workers)]
        started = time.perf_counter()
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if out.returncode != 0:
            raise RuntimeError(f"airtable-pg sync --full exited {out.returncode}:\n{out.stderr[-4000:]}")
        return {
            "records": records,
            "latency_ms": latency_ms,
            "seconds": seconds,
            "mirrored_rows": mirror_live_rows(db),
            "sandbox": sandbox_stats(url),
        }
    finally:
        proc.terminate()
        proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive contender")
    parser.add_argument("--e2e-records", type=int, default=20_000, help="records of the end-to-end CLI run")
    parser.add_argument("--only-e2e", action="store_true", help="run only the end-to-end CLI run")
    parser.add_argument("--out", default="benchmarks/results/full_sync.json")
    parser.add_argument("--render", action="store_true", help="only print the table of an existing --out file")
    burners.add_argument(parser)
    args = parser.parse_args(argv)
    if args.render:
        print(render(summarize(json.loads(Path(args.out).read_text())["runs"])))
        return 0

    from airtable_pg.postgres.embedded import start_embedded

    server_url = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    runs: dict = {}
    with burners.burning(args.burn) as burn:
        if not args.only_e2e:
            small = max(args.records // 10, 1000)
            runs["full"] = measure(args.records, args.latency_ms, args.workers, server_url, "full", not args.no_naive)
            runs["tenth"] = measure(small, args.latency_ms, args.workers, server_url, "tenth", False)
        runs["end_to_end"] = measure_end_to_end(args.e2e_records, args.latency_ms, args.workers, server_url)
    summary = summarize(runs)
    summary["burners"] = burn
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"runs": runs, "summary": summary}, indent=2, default=str))
    print(render(summary))
    if not summary["no_429s"]:
        print("\nNOT A VALID RESULT: the sandbox answered 429 (the rate limit was exceeded)", file=sys.stderr)
        return 1
    return 0


def summary_row(name: str, run: dict) -> dict:
    rate = run["records"] / run["seconds"]
    return {
        "contender": name,
        "records": run["records"],
        "seconds": round(run["seconds"], 1),
        "records_per_s": round(rate, 1),
        "share_of_ceiling": round(rate / CEILING_RECORDS_PER_S, 3),
        "peak_rss_mib": round(run["peak_rss_mib"], 1) if "peak_rss_mib" in run else None,
        "requests": run["sandbox"].get("requests"),
        "rate_limited_429": run["sandbox"].get("rate_limited"),
        "peak_requests_per_s": run["sandbox"].get("peak_per_second"),
    }


def summarize(runs: dict) -> dict:
    rows = []
    summary: dict = {}
    full = runs.get("full")
    if full:
        for name, run in (("airtable_pg engine", full["engine"]), ("naive (Table.all + to_sql)", full.get("naive"))):
            if run:
                rows.append(summary_row(name, run))
        engine_small = runs["tenth"]["engine"]
        summary.update(
            engine_vs_naive_speedup=round(rows[0]["records_per_s"] / rows[1]["records_per_s"], 2)
            if len(rows) > 1
            else None,
            engine_peak_rss_mib_at_tenth=round(engine_small["peak_rss_mib"], 1),
            engine_memory_growth_10x_records=round(full["engine"]["peak_rss_mib"] / engine_small["peak_rss_mib"], 2),
        )
    e2e = runs.get("end_to_end")
    if e2e:
        rows.append(summary_row("`airtable-pg sync --full`, end to end", e2e))
        summary["end_to_end_rows_mirrored"] = e2e["mirrored_rows"]
    checked = [e2e] if e2e else []
    if full:
        checked += [run for run in (full["engine"], full.get("naive"), runs["tenth"]["engine"]) if run]
    return {
        "latency_ms": (full or e2e)["latency_ms"],
        "rows": rows,
        **summary,
        "no_429s": all(run["sandbox"].get("rate_limited") == 0 for run in checked),
    }


def render(summary: dict) -> str:
    lines = [
        f"Full sync at {summary['latency_ms']} ms latency per request, 5 requests/s per base (ceiling 500 records/s)",
        "",
        "| contender | records | seconds | records/s | of ceiling | peak RSS MiB | requests | 429s | peak req/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        rss = "–" if r["peak_rss_mib"] is None else r["peak_rss_mib"]
        lines.append(
            f"| {r['contender']} | {r['records']} | {r['seconds']} | {r['records_per_s']} | "
            f"{r['share_of_ceiling']:.1%} | {rss} | {r['requests']} | {r['rate_limited_429']} | "
            f"{r['peak_requests_per_s']} |"
        )
    lines.append("")
    if "engine_vs_naive_speedup" in summary:
        lines += [
            f"engine speed-up over naive: {summary['engine_vs_naive_speedup']}×",
            f"engine peak RSS with 1/10 of the records: {summary['engine_peak_rss_mib_at_tenth']} MiB "
            f"(10× the records → {summary['engine_memory_growth_10x_records']}× the memory)",
        ]
    if "end_to_end_rows_mirrored" in summary:
        lines.append(
            f"end to end: process start to exit of `airtable-pg sync --full`; "
            f"{summary['end_to_end_rows_mirrored']} live rows mirrored"
        )
    lines.append("429s from the sandbox: none" if summary["no_429s"] else "429s from the sandbox: SOME (invalid run)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
