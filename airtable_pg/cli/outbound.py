"""``airtable-pg outbound setup | run [--follow] | status``: push Postgres-authoritative tables to Airtable.

``setup`` makes sure each Postgres-authoritative table has its idempotency-key field in Airtable (created through
the metadata API when missing: the token needs ``schema.bases:write``); ``run`` does that too, then pushes every
due outbox change, and with ``--follow`` keeps pushing — woken at once by the outbox triggers, and every
``--interval`` seconds for retries that fall due. ``status`` shows the outbox per table (exit 1 when dead changes
wait for triage).
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, command, command_runtime, command_settings
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres import outbox
from airtable_pg.postgres.transaction import transaction
from airtable_pg.runtime import Runtime
from airtable_pg.sync.outbound import PushReport, follow_all

DEFAULT_PUSHERS = 3  # overlapping requests: one pusher alone waits out each answer (~3 of the 5 requests/s)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg outbound", "Push Postgres-authoritative tables.")
    sub = subcommands(parser)
    subcommand(sub, "setup", "create each table's idempotency-key field in Airtable if it lacks one")
    run = subcommand(sub, "run", "push the outbox now (--follow: keep pushing)")
    run.add_argument("--follow", action="store_true", help="keep pushing until Ctrl-C or SIGTERM")
    run.add_argument(
        "--interval", type=float, default=5.0, help="seconds between passes without a trigger (retries falling due)"
    )
    run.add_argument(
        "--pushers", type=int, default=DEFAULT_PUSHERS, help="pushers in parallel with --follow (requests overlap)"
    )
    subcommand(sub, "status", "the outbox per table: pending, dead, oldest pending change")
    return parser


@command("outbound")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    runtime = command_runtime("outbound", command_settings("outbound"))
    if args.action == "status":
        return _status(runtime)
    pusher = runtime.pusher()
    for (base_id, table_id), field_id in sorted(pusher.ensure_key_fields().items()):
        print(f"{base_id}/{table_id}: idempotency key field {field_id}")
    if args.action == "setup":
        return EXIT_OK
    if not args.follow:
        report = pusher.push_all()
        print(summary(report))
        return EXIT_FAILED if report.dead_lettered else EXIT_OK
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    pushers = [pusher] + [runtime.pusher() for _ in range(max(args.pushers, 1) - 1)]
    follow_all(
        pushers,
        runtime.database_url,
        stop,
        interval=args.interval,
        on_pushed=lambda report: print(summary(report), flush=True),
    )
    return EXIT_OK


def summary(report: PushReport) -> str:
    lag = sorted(report.lag_seconds)
    p95 = f"; lag p95 {lag[int(0.95 * (len(lag) - 1))]:.2f} s" if lag else ""
    return (
        f"pushed {report.pushed} ({report.created} created, {report.updated} updated, {report.deleted} deleted) in "
        f"{report.requests} request(s); {report.retried} to retry, {report.dead_lettered} dead-lettered, "
        f"{report.deferred} waiting for a parent{p95}"
    )


def _status(runtime: Runtime) -> int:
    with transaction(runtime.db) as cur:
        depths = {(d.base_id, d.table_id): d for d in outbox.depth(cur)}
    dead = 0
    print(f"{'table':<38} {'pending':>8} {'dead':>6}  oldest pending change")
    for base, table in runtime.spec.tables():
        if not table.is_postgres_authoritative:
            continue
        depth = depths.get((base.id, table.id))
        oldest = depth.oldest_pending.isoformat(timespec="seconds") if depth and depth.oldest_pending else "-"
        print(f"{base.key + '.' + table.key:<38} {depth.pending if depth else 0:>8} {depth.dead if depth else 0:>6}  "
              f"{oldest}")  # fmt: skip
        dead += depth.dead if depth else 0
    return EXIT_FAILED if dead else EXIT_OK
