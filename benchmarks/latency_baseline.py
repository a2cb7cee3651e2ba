"""The cutover's latency baseline on the demo: ``airtable-pg bench api``'s measurement against the sandbox at
Airtable's pace (``--latency-ms`` per request, 5 requests/s) and a synced mirror of ``--records`` demo records.

Run: ``python -m benchmarks.latency_baseline --records 10000 --reads 20``. Results:
``benchmarks/results/latency_baseline.json`` and a markdown table on stdout (the README's).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from airtable_pg.api.baseline import markdown_table, measure
from benchmarks.full_sync import fresh_database, sandbox_runtime, start_sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--out", default="benchmarks/results/latency_baseline.json")
    args = parser.parse_args(argv)
    from airtable_pg.postgres.embedded import start_embedded

    server = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    database = fresh_database(server, f"bench_baseline_{int(time.time())}")
    sandbox, sandbox_url = start_sandbox(args.records, args.latency_ms)
    try:
        runtime = sandbox_runtime(database, sandbox_url)
        with runtime.sync_engine() as engine:
            engine.sync_tables("full")
        results = measure(runtime.spec, runtime.api(), database, reads=args.reads, rate=args.rate)
    finally:
        sandbox.terminate()
        sandbox.wait(30)
    report = {
        "records": args.records,
        "latency_ms": args.latency_ms,
        "reads": args.reads,
        "rate": args.rate,
        "load_average": os.getloadavg(),
        "results": [{**asdict(r), "p95_delta_ms": r.p95_delta_ms} for r in results],
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
