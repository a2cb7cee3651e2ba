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

from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, command, command_runtime, command_settings
from airtable_pg.runtime import Runtime
from airtable_pg.settings import Settings
from airtable_pg.sync.live import DEFAULT_INTERVAL_SECONDS
from airtable_pg.sync.webhook_applier import ApplyReport


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="airtable-pg webhooks", description="The live sync's Airtable webhooks.")
    sub = parser.add_subparsers(dest="action", required=True)
    ensure = sub.add_parser("ensure", help="one healthy hook per base (create, reuse or re-create)")
    ensure.add_argument("--url", help="where Airtable pings (the receiver's /airtable/webhook); none: poll payloads")
    sub.add_parser("list", help="each base's hook and its health (never its secret)")
    sub.add_parser("refresh", help="extend each hook's expiry to 7 days from now")
    sub.add_parser("delete", help="delete each base's hook in Airtable and forget it")
    apply = sub.add_parser("apply", help="apply waiting payloads now (--follow: keep applying)")
    apply.add_argument("--follow", action="store_true", help="keep applying until Ctrl-C or SIGTERM")
    apply.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        help="seconds between passes without a notification (default: %(default)s)",
    )
    return parser.parse_args(argv)


@command("webhooks")
def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = command_settings("webhooks")
    runtime = command_runtime("webhooks", settings)
    live = runtime.live()
    if args.action == "ensure":
        for result in live.care(args.url):
            hook = result.ensured.hook
            verb = "re-created" if result.ensured.replaced else ("created" if result.ensured.created else "healthy")
            pings = f"pings {hook.notification_url}" if hook.notification_url else "no pings: payloads are polled"
            print(f"{result.base}: webhook {hook.webhook_id} {verb}; expires {_when(hook.expires_at)}; {pings}")
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
                print(
                    f"  cursor {health.cursor}, expires {_when(health.expires_at)}, notifications "
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

    live.follow(stop, interval=args.interval, on_applied=on_applied)
    return EXIT_OK


def _dagster_reporter(settings: Settings, runtime: Runtime) -> Callable[[list[ApplyReport]], None] | None:
    """Applied changes become runless materializations (with their gates) on the Dagster instance, when one is
    configured.

    Dagster is imported only then: the applier starts fast and runs without it."""
    if settings.dagster_home is None:
        return None
    from airtable_pg.defs.live_events import materialization_reporter, recorder_for

    recorder = recorder_for(settings)
    if recorder is None:
        return None
    return materialization_reporter(runtime.spec, runtime.checks(), recorder)


def _summary(report: ApplyReport) -> str:
    return (
        f"{report.base}: {report.payloads} payload(s): {report.inserted} inserted, {report.updated} updated, "
        f"{report.tombstoned} tombstoned, {report.dead_letters} dead letter(s), {report.drift} schema change(s); "
        f"cursor {report.cursor}"
    )


def _when(moment: object) -> str:
    return moment.isoformat(timespec="seconds") if hasattr(moment, "isoformat") else "-"  # type: ignore[union-attr]
