"""A model of a first full sync's scheduler: how long the demo takes for a given plan, latency and size.

Run: ``python -m benchmarks.scan_model`` (seconds; no server needed).

Real runs on a shared 2-core machine vary by ±1 % from run to run, too much to compare range lengths by
measuring; this model compares them on the demo's own record ids. It replays what the engine does:

- one rate-limit slot every ``1/5 s + 8 ms``, handed out in the order requests ask for them;
- every table starts with its sample range (ids ending in ``0``) on its own thread; the rest of the table is
  planned when the sample is complete (``planner.plan_after_sample``) and its ranges queue for the pool's
  ``workers`` threads;
- each range asks for its next page once the previous one arrived (latency) and was applied.

It counts requests exactly (every range's pages, partial last pages included) and reproduces the measured
request counts of the benchmark (``benchmarks.full_sync``); it leaves out start-up and exit, which do not
depend on the plan. ``--range-rows`` lists the lengths to compare with the earlier rule (``old``: rounded
down, 1,000 rows per range, planned from the sample's first page).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from airtable_pg.airtable.api_pool import PAGE_SIZE
from airtable_pg.sync import planner
from airtable_pg.sync.planner import SAMPLE, ScanRange
from airtable_sandbox.demo import demo_records

SLOT_SECONDS = 0.2 + 0.008
APPLY_SECONDS = 0.03  # converting and upserting one page, measured
CEILING_RECORDS_PER_S = 500.0

Plan = Callable[[int], list[ScanRange]]  # the sample's rows → the rest's ranges


@dataclass
class Chain:
    """One range being scanned: pages left, and whether it is a table's sample."""

    table: str
    pages_left: int
    sample_rows: int | None = None  # set for a sample range


def demo_ids(records: int) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = defaultdict(list)
    for record in demo_records(records):
        ids[record.table_id].append(record.record_id)
    return ids


def pages_of(scan_range: ScanRange, ids: list[str]) -> int:
    return max(1, math.ceil(sum(1 for i in ids if scan_range.holds(i)) / PAGE_SIZE))


def simulate(ids: dict[str, list[str]], plan: Plan, *, latency: float, workers: int = 8) -> tuple[float, int]:
    """(seconds from the first request to the last page applied, requests) of one first import."""
    order = itertools.count()
    arrivals: list[tuple[float, int, Chain]] = []
    queued: deque[Chain] = deque()
    next_slot, requests, busy, finished = 0.0, 0, 0, 0.0

    def ask(at: float, chain: Chain) -> None:
        nonlocal next_slot, requests
        slot = max(next_slot, at)
        next_slot = slot + SLOT_SECONDS
        requests += 1
        heapq.heappush(arrivals, (slot + latency, next(order), chain))

    def start_queued(at: float) -> None:
        nonlocal busy
        while busy < workers and queued:
            busy += 1
            ask(at, queued.popleft())

    for table, table_ids in ids.items():
        sample_rows = sum(1 for i in table_ids if SAMPLE.holds(i))
        ask(0.0, Chain(table, max(1, math.ceil(sample_rows / PAGE_SIZE)), sample_rows))
    while arrivals:
        arrived, _, chain = heapq.heappop(arrivals)
        applied = arrived + APPLY_SECONDS
        chain.pages_left -= 1
        if chain.pages_left:
            ask(applied, chain)
            continue
        finished = max(finished, applied)
        if chain.sample_rows is None:
            busy -= 1
        else:
            queued.extend(Chain(chain.table, pages_of(r, ids[chain.table])) for r in plan(chain.sample_rows))
        start_queued(applied)
    return finished, requests


def old_plan(sample_rows: int, workers: int = 8) -> list[ScanRange]:
    """The rule before: planned from the sample's first page (a full one says only "≥ 6,200"), rounded down."""
    first_page = min(sample_rows, PAGE_SIZE)
    estimate = max(PAGE_SIZE * 62, workers * 1000) if first_page >= PAGE_SIZE else first_page * 62
    parts = max(1, min(workers, int(estimate // 1000)))
    rest = "".join(c for c in planner.ID_ALPHABET if c not in planner.SAMPLE_CHARS)
    return planner.partition(planner._even_groups(rest, parts), claimed_elsewhere=planner.SAMPLE_CHARS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 20_000, 30_000, 100_000])
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[300, 500, 800])
    parser.add_argument("--range-rows", type=int, nargs="+", default=[1_000, 1_500, 2_000])
    args = parser.parse_args(argv)
    plans: dict[str, Plan] = {"old": old_plan}
    for rows in args.range_rows:
        plans[f"{rows:,}"] = lambda sample, rows=rows: planner.plan_after_sample(sample, workers=8, range_rows=rows)
    print("| records | latency | " + " | ".join(plans) + " |")
    print("|---|---|" + "---|" * len(plans))
    for records in args.records:
        ids = demo_ids(records)
        for latency_ms in args.latency_ms:
            cells = []
            for plan in plans.values():
                seconds, requests = simulate(ids, plan, latency=latency_ms / 1000)
                cells.append(f"{records / seconds / CEILING_RECORDS_PER_S:.1%} ({requests})")
            print(f"| {records:,} | {latency_ms} ms | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
