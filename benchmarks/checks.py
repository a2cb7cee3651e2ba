"""Cost of the cutover gates: Airtable requests, seconds and peak memory per check, and pandera on 1,000,000 rows.

Run: ``python -m benchmarks.checks --records 100000`` (a sandbox with Airtable's limits and 300 ms latency, a
full sync, then each check over every table in a child process of its own, so its peak RSS is its own), then
the quality check on ``--quality-rows`` users generated in Postgres, and on a tenth of them (flat memory).
Results go to ``benchmarks/results/checks.json`` and a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.full_sync import fresh_database, reset_stats, sandbox_runtime, sandbox_stats, start_sandbox

GENERATE_USERS = """
insert into airtable.users (airtable_id, name, email, role, active, signup_date, last_login, member_number, fields,
                            airtable_created_time)
select 'rec' || lpad(to_hex(n), 14, '0'), 'User ' || n, 'user' || n || '@example.com',
       (array['client', 'coach', 'admin'])[1 + n %% 3], n %% 7 <> 0, date '2024-01-01' + (n %% 900),
       timestamptz '2025-01-01' + n * interval '1 minute', n, '{}'::jsonb, now()
from generate_series(1, %s) n
"""


def child(check: str | None, tables: str | None) -> None:
    """In the child: run one check over the chosen tables, print one JSON line."""
    from airtable_pg.checks.runner import run_checks

    ctx = sandbox_runtime(os.environ["DATABASE_URL"], os.environ["AIRTABLE_API_URL"]).checks()
    spec = ctx.spec
    chosen = [spec.find_table(t) for t in tables.split(",")] if tables else list(spec.tables())
    started = time.perf_counter()
    results = run_checks(ctx, chosen, [check] if check else None)
    print(json.dumps({
        "check": check,
        "seconds": round(time.perf_counter() - started, 2),
        "requests": sum(r.requests for r in results),
        "passed": all(r.passed for r in results),
        "reasons": {r.table: r.reason for r in results if not r.passed},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))  # fmt: skip


def run_child(sandbox_url: str, database_url: str, check: str, tables: str | None = None) -> dict:
    env = dict(os.environ, AIRTABLE_API_URL=sandbox_url, DATABASE_URL=database_url)
    command = [sys.executable, "-m", "benchmarks.checks", "--child", "--check", check]
    out = subprocess.run([*command, *(["--tables", tables] if tables else [])], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def sync(sandbox_url: str, database_url: str) -> float:
    started = time.perf_counter()
    with sandbox_runtime(database_url, sandbox_url).sync_engine(workers=8) as engine:
        engine.sync_tables("full")
    return round(time.perf_counter() - started, 1)


def measure_checks(server_url: str, records: int, latency_ms: int) -> dict:
    from airtable_pg.checks.runner import CHECKS

    proc, url = start_sandbox(records, latency_ms)
    try:
        db = fresh_database(server_url, f"bench_checks_{records}_{os.getpid()}")
        report: dict = {"records": records, "latency_ms": latency_ms, "sync_seconds": sync(url, db), "checks": {}}
        for name in CHECKS:
            reset_stats(url)
            result = run_child(url, db, name)
            result["sandbox_served"] = sandbox_stats(url).get("served")
            report["checks"][name] = result
            print(json.dumps(result), file=sys.stderr)
        return report
    finally:
        proc.terminate()
        proc.wait(30)


def measure_quality(server_url: str, rows: int) -> dict:
    import psycopg

    from airtable_pg.postgres.database import libpq_url

    proc, url = start_sandbox(100, 0)  # only the metadata (select options) comes from Airtable
    try:
        report = {}
        for count in (rows // 10, rows):
            db = fresh_database(server_url, f"bench_quality_{count}_{os.getpid()}")
            with psycopg.connect(libpq_url(db), autocommit=True) as conn:
                conn.execute(GENERATE_USERS, (count,))
            report[count] = run_child(url, db, "quality", "users")
            print(json.dumps(report[count]), file=sys.stderr)
        return report
    finally:
        proc.terminate()
        proc.wait(30)


def render(report: dict) -> str:
    lines = [
        f"Checks over every table of the {report['checks']['records']:,}-record demo base "
        f"({report['checks']['latency_ms']} ms latency, 5 requests/s; full sync {report['checks']['sync_seconds']} s):",
        "",
        "| check | Airtable requests | seconds | peak RSS MiB | passed |",
        "|---|---|---|---|---|",
    ]
    for name, r in report["checks"]["checks"].items():
        lines.append(f"| `{name}` | {r['requests']:,} | {r['seconds']} | {r['peak_rss_mib']} | {r['passed']} |")
    lines += [
        "",
        "| pandera quality check on users rows generated in Postgres | seconds | peak RSS MiB |",
        "|---|---|---|",
    ]
    for count, r in report["quality"].items():
        lines.append(f"| {int(count):,} rows | {r['seconds']} | {r['peak_rss_mib']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--quality-rows", type=int, default=1_000_000)
    parser.add_argument("--out", default="benchmarks/results/checks.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    parser.add_argument("--tables", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.check, args.tables)
        return 0
    from airtable_pg.postgres.embedded import start_embedded

    server_url = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    report = {
        "quality": measure_quality(server_url, args.quality_rows),
        "checks": measure_checks(server_url, args.records, args.latency_ms),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
