"""The two contenders of the full-sync benchmark, each run in its own process by ``full_sync.py``.

Prints one JSON line: records synced, seconds, and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def engine(workers: int) -> dict:
    from airtable_pg.runtime import Runtime
    from airtable_pg.settings import load_settings

    runtime = Runtime.from_settings(load_settings(), database_url=os.environ["DATABASE_URL"])
    sync = runtime.sync_engine(workers=workers)
    started = time.perf_counter()
    results = sync.sync_tables("full")
    seconds = time.perf_counter() - started
    sync.close()
    return {
        "records": sum(r.rows_seen for r in results),
        "seconds": seconds,
        "inserted": sum(r.inserted for r in results),
    }


def naive(_workers: int) -> dict:
    """The way a person writes it by hand: read each whole table, then DataFrame.to_sql."""
    import pandas as pd
    import sqlalchemy as sa
    from pyairtable import Api

    from airtable_pg.postgres.database import sqlalchemy_url
    from airtable_pg.spec import load_spec

    spec = load_spec()
    api = Api(os.environ["AIRTABLE_API_KEY"], endpoint_url=os.environ["AIRTABLE_API_URL"])
    engine = sa.create_engine(sqlalchemy_url(os.environ["DATABASE_URL"]))
    started = time.perf_counter()
    total = 0
    for base, table in spec.tables():
        records = api.table(base.id, table.id).all()
        frame = pd.DataFrame(
            [
                {
                    "airtable_id": r["id"],
                    "created_time": r["createdTime"],
                    **{k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r["fields"].items()},
                }
                for r in records
            ]
        )
        frame.to_sql(f"naive_{table.key}", engine, schema="public", if_exists="replace", index=False)
        total += len(records)
    return {"records": total, "seconds": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["engine", "naive"])
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    report = (engine if args.mode == "engine" else naive)(args.workers)
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
