"""Cell conversion speed: records → mirror rows (``airtable.cells``), the CPU cost every sync pays per record.

Run: ``python -m benchmarks.cell_conversion --records 10000``

Reads the demo base once from an in-process sandbox (rate limit off), then times ``RecordConverter.page`` over
every record of every spec table, best of ``--repeat`` rounds, and prints µs per record. No Postgres involved.
"""

from __future__ import annotations

import argparse
import time

from pyairtable import Api

from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.spec import load_spec
from airtable_sandbox.server import Sandbox

TOKEN = "patBenchmarkToken.local"


def read_demo(records: int) -> list[tuple[RecordConverter, list[list[dict]]]]:
    sandbox = Sandbox(TOKEN, rate_limit_per_second=None, token_rate_limit_per_second=None)
    sandbox.load_demo(records, seed=42)
    sandbox.start()
    try:
        api = Api(TOKEN, endpoint_url=sandbox.url)
        work = []
        for base, table in load_spec().tables():
            pages = list(api.table(base.id, table.id).iterate(page_size=100, use_field_ids=True))
            work.append((RecordConverter(table), pages))
        return work
    finally:
        sandbox.stop()


def convert_all(work: list[tuple[RecordConverter, list[list[dict]]]]) -> tuple[float, int]:
    started = time.perf_counter()
    converted = 0
    for converter, pages in work:
        for page in pages:
            converted += len(converter.page(page).rows)
    return time.perf_counter() - started, converted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    work = read_demo(args.records)
    timings = []
    for _ in range(args.repeat):
        seconds, converted = convert_all(work)
        timings.append(seconds)
    best = min(timings)
    median = sorted(timings)[len(timings) // 2]
    print(
        f"{converted} records: best {best * 1000:.1f} ms ({best / converted * 1e6:.2f} µs/record), "
        f"median {median * 1000:.1f} ms ({median / converted * 1e6:.2f} µs/record)"
    )


if __name__ == "__main__":
    main()
