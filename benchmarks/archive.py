"""Attachment archive benchmark: copy throughput from the sandbox, and the sync's pace while the archive runs.

Run: ``python -m benchmarks.archive`` (``--records 10000 --latency-ms 300``).

A sandbox child process with Airtable's limits (5 requests/s per base) and a fixed latency per API request (content
URLs are served without it, as a CDN would); fresh databases migrated with the demo chain; a local-directory store.

1. ``sync alone``: a full sync of the demo base into database A (records/s).
2. ``archive alone``: ``Archiver.run()`` copies every attachment A holds (attachments/s, MB/s; each copy is
   downloaded, written, read back and hashed, and moved).
3. ``sync beside the archive``: a full sync into a fresh database B while a separate process copies A's
   attachments over and over (its archive state and store are reset after each pass, so it copies for the whole
   sync). The sync's records/s is compared with (1).
4. ``fast lane``: the live stack ``airtable-pg dev`` runs (receiver, webhook applier, pusher) on B; ``--users``
   users created in Airtable at ``--rate`` per second, timed from ``createdTime`` to their commit in Postgres
   (``benchmarks.provisioning``), first with nothing else running, then while the archive process copies again.

Results: ``benchmarks/results/archive.json`` and a markdown table on stdout (``--burn`` as the other benchmarks).
Exit 1 on any 429.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import burners, harness
from benchmarks.full_sync import fresh_database, reset_stats, sandbox_runtime, sandbox_stats, start_sandbox

if TYPE_CHECKING:
    from airtable_pg.archive.archiver import Archiver


def _sync(database_url: str, sandbox_url: str, workers: int) -> dict:
    runtime = sandbox_runtime(database_url, sandbox_url)
    started = time.perf_counter()
    with runtime.sync_engine(workers=workers) as engine:
        results = engine.sync_tables("full")
    seconds = time.perf_counter() - started
    records = sum(r.rows_seen for r in results)
    return {"records": records, "seconds": round(seconds, 2), "records_per_s": round(records / seconds, 1)}


def _archiver(database_url: str, sandbox_url: str, store: Path, workers: int) -> Archiver:
    import dataclasses

    from airtable_pg.archive.config import ArchiveConfig

    runtime = sandbox_runtime(database_url, sandbox_url)
    return dataclasses.replace(runtime, archive=ArchiveConfig(store_url=str(store), workers=workers)).archiver()


def _reset(database_url: str, store: Path) -> None:
    import psycopg

    from airtable_pg.postgres.database import libpq_url

    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("truncate airtable_sync.attachment")
    shutil.rmtree(store, ignore_errors=True)


def archive_forever(database_url: str, sandbox_url: str, store: str, workers: int) -> None:
    """The child of (3): copy everything, reset, again, until SIGTERM; prints passes and bytes at the end."""
    from airtable_pg.archive.priority import yield_cpu

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    if not os.environ.get("BENCH_ARCHIVE_FULL_PRIORITY"):
        yield_cpu()  # as `airtable-pg archive run` does
    archiver = _archiver(database_url, sandbox_url, Path(store), workers)
    passes, copied, started = 0, 0, time.perf_counter()
    while not stop["now"]:
        report = archiver.run()
        copied += report.bytes
        passes += 1
        _reset(database_url, Path(store))
    print(json.dumps({"passes": passes, "bytes": copied, "seconds": time.perf_counter() - started}), flush=True)


@contextlib.contextmanager
def busy_archive(database_url: str, sandbox_url: str, store: Path, workers: int) -> Iterator[dict]:
    """A separate process copying ``database_url``'s attachments over and over; yields its totals once it stopped."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    command = ["--child", database_url, sandbox_url, str(store), str(workers)]
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.archive", *command], env=env, stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    totals: dict = {}
    try:
        time.sleep(2.0)  # the child is copying before the measured work starts
        yield totals
    finally:
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=300)
        totals.update(json.loads(out.strip().splitlines()[-1]))


def fast_lane_phase(
    database_url: str, sandbox_url: str, server_url: str, users: int, rate: float,
    archive: Callable[[], contextlib.AbstractContextManager[dict]],
) -> dict:  # fmt: skip
    """Users provisioned through the live stack, alone and then beside the busy archive: latency to commit."""
    from benchmarks.fast_lane import start_live_children
    from benchmarks.provisioning import MirrorWatcher, Provisioning, latency_report

    stack = start_live_children(argparse.Namespace(), sandbox_url, database_url, server_url)
    watcher = MirrorWatcher(database_url)
    try:

        def provision(label: str) -> dict:
            batch = Provisioning(sandbox_url, users, rate, label, watcher.await_users).start()
            created = batch.join()
            watcher.wait_for_all(batch, 60.0)
            return latency_report(database_url, created, watcher.seen)["committed"]

        provision("warm_up")  # the hook's first pings and the applier's first passes are not what is compared
        alone = provision("alone")
        with archive() as copied:
            beside = provision("beside_archive")
        return {"users": users, "rate": rate, "alone": alone, "beside_archive": beside,
                "archive_passes": copied.get("passes")}  # fmt: skip
    finally:
        watcher.stop()
        stack.stop()


def run(
    records: int, latency_ms: int, workers: int, archive_workers: int, users: int, rate: float, server_url: str
) -> dict:
    proc, url = start_sandbox(records, latency_ms)
    scratch = Path(tempfile.mkdtemp(prefix="bench_archive_"))
    try:
        stamp = int(time.time())
        a = fresh_database(server_url, f"bench_archive_a_{stamp}")
        reset_stats(url)
        alone = _sync(a, url, workers)

        archiver = _archiver(a, url, scratch / "store", archive_workers)
        report = archiver.run()
        copy = {
            "attachments": report.archived,
            "bytes": report.bytes,
            "seconds": round(report.seconds, 2),
            "attachments_per_s": round(report.archived / report.seconds, 1),
            "mb_per_s": round(report.bytes / 1e6 / report.seconds, 1),
            "failed": report.failed,
        }
        _reset(a, scratch / "store")

        b = fresh_database(server_url, f"bench_archive_b_{stamp}")
        with busy_archive(a, url, scratch / "busy", archive_workers) as busy:
            beside = _sync(b, url, workers)
        again = lambda: busy_archive(a, url, scratch / "busy_again", archive_workers)  # noqa: E731
        fast_lane = fast_lane_phase(b, url, server_url, users, rate, again)
        stats = sandbox_stats(url)
        return {
            "records": records,
            "latency_ms": latency_ms,
            "sync_alone": alone,
            "archive_alone": copy,
            "sync_beside_archive": beside,
            "archive_beside_sync": {
                "passes": busy["passes"],
                "mb_per_s": round(busy["bytes"] / 1e6 / busy["seconds"], 1),
            },
            "fast_lane": fast_lane,
            "sync_rate_change": round(beside["records_per_s"] / alone["records_per_s"] - 1, 3),
            "rate_limited_429": stats.get("rate_limited", 0),
            "cpus": os.cpu_count(),
        }
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)


def render(result: dict) -> str:
    alone, copy, beside = result["sync_alone"], result["archive_alone"], result["sync_beside_archive"]
    return "\n".join([
        f"| {result['records']:,} demo records, {result['latency_ms']} ms latency, {result['cpus']} CPUs | value |",
        "|---|---|",
        f"| archive alone: attachments, MB | {copy['attachments']:,}, {copy['bytes'] / 1e6:.1f} MB |",
        f"| archive alone: attachments/s, MB/s | {copy['attachments_per_s']}, {copy['mb_per_s']} |",
        f"| full sync alone: records/s | {alone['records_per_s']} ({alone['records']:,} in {alone['seconds']} s) |",
        f"| full sync beside the archive: records/s | {beside['records_per_s']} ({beside['seconds']} s) |",
        f"| change | {result['sync_rate_change']:+.1%} |",
        f"| archive beside the sync: MB/s | {result['archive_beside_sync']['mb_per_s']} |",
        f"| fast lane alone: createdTime → committed p50 / p95 | {_p(result['fast_lane']['alone'])} |",
        f"| fast lane beside the archive: p50 / p95 | {_p(result['fast_lane']['beside_archive'])} |",
        f"| 429s | {result['rate_limited_429']} |",
    ])  # fmt: skip


def _p(stats: dict) -> str:
    return f"{stats['p50_s']:.2f} / {stats['p95_s']:.2f} s ({stats['count']} users)" if stats.get("count") else "-"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        database_url, sandbox_url, store, workers = argv[1:5]
        archive_forever(database_url, sandbox_url, store, int(workers))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--archive-workers", type=int, default=4)
    parser.add_argument("--users", type=int, default=30, help="users provisioned through the fast lane, each time")
    parser.add_argument("--rate", type=float, default=1.0, help="users created per second")
    parser.add_argument("--out", default="benchmarks/results/archive.json")
    burners.add_argument(parser)
    args = parser.parse_args(argv)

    def measure(args: argparse.Namespace, server_url: str) -> dict:
        return run(args.records, args.latency_ms, args.workers, args.archive_workers, args.users, args.rate, server_url)

    result = harness.run_and_save(args, measure, render)
    throttled = ["the sandbox answered 429 (the rate limit was exceeded)"] if result["rate_limited_429"] else []
    return harness.verdict(throttled)


if __name__ == "__main__":
    sys.exit(main())
