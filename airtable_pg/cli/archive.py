"""``airtable-pg archive run [--follow] | status | purge``: copies of the mirror's attachments that never expire.

``run`` finds every attachment the mirror holds and copies the ones not yet archived (``--follow``: again every
``--interval`` seconds, as a sync lands more); ``status`` compares with the mirror and shows, per base, how many
are live, archived, waiting, failed, tombstoned and purged, and exits 1 while a live attachment lacks a verified
copy; ``purge`` removes the bytes of attachments deleted in Airtable longer ago than
``AIRTABLE_PG_ARCHIVE_RETENTION_DAYS``.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from airtable_pg.archive.archiver import ArchiveReport
from airtable_pg.archive.priority import yield_cpu
from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, command, command_runtime, command_settings
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg archive", "Copy the mirror's attachments to the archive store.")
    sub = subcommands(parser)
    run = subcommand(sub, "run", "copy every attachment not yet archived (--follow: keep copying)")
    run.add_argument("--base", action="append", help="only this base (key or id); repeat for more")
    run.add_argument("--follow", action="store_true", help="keep copying until Ctrl-C or SIGTERM")
    run.add_argument("--interval", type=float, default=30.0, help="seconds between passes with --follow")
    subcommand(sub, "status", "per base: live, archived, waiting, failed, tombstoned, purged attachments")
    subcommand(sub, "purge", "remove the copies of attachments deleted in Airtable longer ago than the retention")
    return parser


@command("archive")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    runtime = command_runtime("archive", command_settings("archive"))
    archiver = runtime.archiver()
    if args.action == "status":
        return _status(runtime)
    if args.action == "purge":
        report = archiver.purge()
        print(f"purged {report.purged} copies; removed {report.partials_removed} partial files of killed copiers")
        return EXIT_OK
    yield_cpu()  # background work: the sync and the fast lane come first (archive/priority.py)
    if not args.follow:
        print(summary(archiver.run(args.base)))
        return _status(runtime, quiet=True)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop.is_set():
        report = archiver.run(args.base, stop=stop)
        if report.archived or report.failed or report.tombstoned:
            print(summary(report), flush=True)
        stop.wait(args.interval)
    return EXIT_OK


def summary(report: ArchiveReport) -> str:
    rate = f" ({report.archived / report.seconds:.1f}/s)" if report.archived and report.seconds else ""
    return (
        f"archived {report.archived} attachments, {report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s{rate}; "
        f"{report.refreshed} expired URLs read again, {report.tombstoned} gone from Airtable, "
        f"{report.failed} failed attempts"
    )


def _status(runtime: Runtime, *, quiet: bool = False) -> int:
    archiver = runtime.archiver()
    archiver.reconcile()  # what the mirror holds now (new rows, deletions), not what the last run saw
    counts = archiver.counts()
    waiting = 0
    if not quiet:
        print(f"{'base':<20} {'live':>7} {'archived':>9} {'waiting':>8} {'failed':>7} {'tombstoned':>11} "
              f"{'purged':>7} {'MB':>9}  oldest waiting")  # fmt: skip
    for base in runtime.spec.bases.values():
        c = counts[base.id]
        waiting += c.backlog + c.failed
        if quiet:
            continue
        oldest = c.oldest_pending_at.isoformat(timespec="seconds") if c.oldest_pending_at else "-"
        print(f"{base.key:<20} {c.live:>7} {c.archived:>9} {c.backlog:>8} {c.failed:>7} {c.tombstoned:>11} "
              f"{c.purged:>7} {c.archived_bytes / 1e6:>9.1f}  {oldest}")  # fmt: skip
    return EXIT_FAILED if waiting else EXIT_OK
