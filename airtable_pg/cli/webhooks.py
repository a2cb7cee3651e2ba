"""``airtable-pg webhooks ensure | list | refresh | delete | apply``: the live sync's webhooks, by hand.

``ensure [--url URL]`` gives every base one healthy hook (reused when healthy; a replaced one is drained, then
each table is polled from its watermark). Without ``--url`` the hook sends no pings and ``apply --follow``
polls its payloads every ``--interval`` seconds: for deployments Airtable cannot reach over public HTTPS.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from types import FrameType

from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command, command_runtime, command_settings, fail
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres.follow_lock import Holder
from airtable_pg.runtime import Runtime
from airtable_pg.settings import Settings
from airtable_pg.sync.live import DEFAULT_INTERVAL_SECONDS, LiveSync
from airtable_pg.sync.webhook_applier import ApplyReport


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg webhooks", "The live sync's Airtable webhooks.")
    sub = subcommands(parser)
    ensure = subcommand(sub, "ensure", "one healthy hook per base (create, reuse or re-create)")
    ensure.add_argument("--url", help="where Airtable pings (the receiver's /airtable/webhook); none: poll payloads")
    ensure.add_argument(
        "--force",
        action="store_true",
        help="re-point a healthy hook that pings another URL (that receiver then gets no pings)",
    )
    subcommand(sub, "list", "each base's hook: health, the URL it pings, expiry (never its secret)")
    subcommand(sub, "refresh", "extend each hook's expiry to 7 days from now")
    subcommand(sub, "delete", "delete each base's hook in Airtable and forget it")
    apply = subcommand(sub, "apply", "apply waiting payloads now (--follow: keep applying)")
    apply.add_argument("--follow", action="store_true", help="keep applying until Ctrl-C or SIGTERM")
    apply.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        help="seconds between passes without a notification (default: %(default)s)",
    )
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@command("webhooks")
def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = command_settings("webhooks")
    runtime = command_runtime("webhooks", settings)
    live = runtime.live()
    if args.action == "ensure":
        if not args.force and _refuse_repointing(live, args.url):
            return EXIT_USAGE
        for result in live.care(args.url):
            hook = result.ensured.hook
            verb = "re-created" if result.ensured.replaced else ("created" if result.ensured.created else "healthy")
            print(f"{result.base}: webhook {hook.webhook_id} {verb}; expires {_when(hook.expires_at)}; {_pings(hook)}")
            old = result.ensured.replaced
            if old is not None:
                drained = result.drained.payloads if result.drained else 0
                print(f"  replaced webhook {old.webhook_id} ({_pings(old)}): its {drained} waiting payload(s) were "
                      f"applied, then it was deleted in Airtable")  # fmt: skip
            for synced in result.gap_poll:
                print(f"  gap poll {synced.base}.{synced.table}: {synced.mode}, {synced.rows_seen} seen, "
                      f"{synced.inserted} inserted, {synced.updated} updated")  # fmt: skip
        return EXIT_OK
    if args.action == "list":
        healthy = True
        for base in live.spec.bases.values():
            health = live.manager.health(base)
            healthy &= health.healthy
            state = "healthy" if health.healthy else "UNHEALTHY: " + "; ".join(health.problems)
            print(f"{base.key}: {health.webhook_id or '-'} {state}")
            if health.webhook_id:
                pings = f"pings {health.notification_url}" if health.notification_url else "no pings (payloads polled)"
                print(f"  {pings}; expires {_when(health.expires_at)}")
                print(
                    f"  cursor {health.cursor}, notifications "
                    f"{health.notifications_enabled}, last ping {_when(health.last_notification_at)}, "
                    f"last applied {_when(health.last_applied_at)}, last error {health.last_error or '-'}"
                )
        return EXIT_OK if healthy else EXIT_FAILED
    if args.action == "refresh":
        for base in live.spec.bases.values():
            print(f"{base.key}: expires {_when(live.manager.refresh(base))}")
        return EXIT_OK
    if args.action == "delete":
        for base in live.spec.bases.values():
            print(f"{base.key}: {'deleted' if live.manager.delete(base) else 'had no webhook'}")
        return EXIT_OK
    record = _dagster_reporter(settings, runtime)
    if not args.follow:
        reports = live.apply_all()
        for report in reports:
            print(_summary(report))
        if record is not None:
            record(reports)
        return EXIT_OK
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    def on_applied(reports: list[ApplyReport]) -> None:
        for report in reports:
            if report.payloads:
                print(_summary(report), flush=True)
        if record is not None:
            record(reports)

    def on_waiting(base: str, holder: Holder) -> None:
        print(f"{base}: waiting: another applier follows this base's payloads ({holder.describe()}); this one "
              f"takes over when it stops (Ctrl-C to quit)", flush=True)  # fmt: skip

    def on_following(bases: list[str]) -> None:
        print(f"following {', '.join(bases)}: payloads applied at each ping, else every {args.interval:g} s "
              f"(Ctrl-C to stop)", flush=True)  # fmt: skip

    live.follow(stop, interval=args.interval, on_applied=on_applied, on_waiting=on_waiting, on_following=on_following)
    print("stopped", flush=True)
    return EXIT_OK


def _refuse_repointing(live: LiveSync, url: str | None) -> bool:
    """True (after one line per base) when a healthy hook pings another receiver and ``--force`` was not given."""
    taken = [(base, hook) for base in live.spec.bases.values() if (hook := live.manager.pings_elsewhere(base, url))]
    for base, hook in taken:
        fail(
            "webhooks",
            f"{base.key}: webhook {hook.webhook_id} is healthy and pings {hook.notification_url} (another receiver, "
            f"e.g. `make dev`'s); re-pointing it to {url or 'no URL (polled)'} would leave that receiver without "
            "pings, and its health check would re-create a hook of its own. Re-run with --force to re-point it "
            "anyway: the old hook's waiting payloads are applied, then it is deleted and each table is polled from "
            "its watermark",
        )
    return bool(taken)


def _pings(hook: object) -> str:
    url = getattr(hook, "notification_url", None)
    return f"pings {url}" if url else "no pings: payloads are polled"


def _dagster_reporter(settings: Settings, runtime: Runtime) -> Callable[[list[ApplyReport]], None] | None:
    """Applied changes become runless materializations (with their gates) on the Dagster instance, when one is
    configured.

    Dagster is imported, and its instance opened, only when a pass first changed a table: the applier starts fast
    and runs without it, and beside a starting `dagster dev` (make dev) it does not race Dagster's own creation of
    the instance's tables on a fresh database (two creators: "type asset_keys already exists", and the applier
    died)."""
    if settings.dagster_home is None:
        return None
    opened: list[Callable[[list[ApplyReport]], None]] = []

    def record(reports: list[ApplyReport]) -> None:
        if not any(report.by_table for report in reports):
            return
        if not opened:
            from airtable_pg.defs.live_events import materialization_reporter, recorder_for

            recorder = recorder_for(settings)
            if recorder is None:
                return  # said once in the log; the next changing pass tries again
            opened.append(materialization_reporter(runtime.spec, runtime.checks(), recorder))
        opened[0](reports)

    return record


def _summary(report: ApplyReport) -> str:
    return (
        f"{report.base}: {report.payloads} payload(s): {report.inserted} inserted, {report.updated} updated, "
        f"{report.tombstoned} tombstoned, {report.dead_letters} dead letter(s), {report.drift} schema change(s); "
        f"cursor {report.cursor}"
    )


def _when(moment: object) -> str:
    return moment.isoformat(timespec="seconds") if hasattr(moment, "isoformat") else "-"  # type: ignore[union-attr]
