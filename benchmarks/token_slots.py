"""The rate limiter's own capacity: how many slots/s many bases on one token get, with no HTTP and no sync.

Run: ``python -m benchmarks.token_slots --bases 20 --threads 3 --seconds 10``. Threads of one process take slots
of ``--bases`` bases sharing one token, on a fresh database of the benchmarks' embedded server, as fast as the
limiter gives them. The ceiling is one slot per 20.8 ms grid unit: 48.1/s. Reported: slots/s, slots given up
because a thread woke late, and how late the slots taken were (p50/p95), with the load average.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from airtable_pg.airtable.rate_limit import RateLimiter
from airtable_pg.airtable.slot_grid import token_key
from airtable_pg.postgres.database import sqlalchemy_url
from benchmarks.full_sync import fresh_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=int, default=20)
    parser.add_argument("--threads", type=int, default=3, help="threads per base")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fast-lane-share", type=float, default=1.0, help="requests/s held for fast lanes")
    args = parser.parse_args(argv)
    from airtable_pg.postgres.embedded import start_embedded

    server = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    url = fresh_database(server, f"bench_token_slots_{int(time.time())}")
    engine = sa.create_engine(sqlalchemy_url(url), pool_size=args.bases * args.threads)
    limiter = RateLimiter(engine, token_key=token_key("patTokenSlotsBenchmark"), fast_lane_share=args.fast_lane_share)
    lateness: list[float] = []
    started = time.monotonic()
    until = started + args.seconds

    def work(base: int) -> None:
        while time.monotonic() < until:
            slot = limiter.take(f"appTokenSlots{base:04d}")
            if slot.deadline < until:  # a slot booked before the end but falling after it is not counted
                lateness.append(time.monotonic() - slot.deadline)  # list.append is atomic

    threads = [threading.Thread(target=work, args=(b,)) for b in range(args.bases) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lateness.sort()
    print(f"{len(lateness) / args.seconds:.1f} slots/s (ceiling {1 / limiter.unit:.1f}); {limiter.missed_slots} given "
          f"up late; lateness p50 {lateness[len(lateness) // 2] * 1000:.1f} ms, "
          f"p95 {lateness[int(len(lateness) * 0.95)] * 1000:.1f} ms; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
