"""``airtable-pg sandbox``: run the Airtable sandbox with the demo base until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from types import FrameType

from airtable_sandbox.attachments import DEFAULT_TTL_SECONDS
from airtable_sandbox.server import Sandbox

DEV_TOKEN = "patSandboxDevToken.local"


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be ≥ 0")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airtable-pg sandbox",
        description="An emulator of the Airtable Web API with the coaching demo base, Airtable's limits and faults.",
    )
    parser.add_argument("--records", type=int, default=1000, help="demo records across all tables (default 1000)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the demo data (default 42)")
    parser.add_argument(
        "--bases",
        type=int,
        default=1,
        help="copies of the demo base, appCoachingDemo01, …02, … (default 1): many bases on one token",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    parser.add_argument(
        "--token",
        default=os.environ.get("AIRTABLE_API_KEY") or DEV_TOKEN,
        help="the one accepted bearer token (default: $AIRTABLE_API_KEY, else a fixed dev token)",
    )
    parser.add_argument("--latency-ms", type=_non_negative, default=0.0, help="added latency per request (default 0)")
    parser.add_argument("--jitter-ms", type=_non_negative, default=0.0, help="uniform random extra latency (default 0)")
    parser.add_argument(
        "--rate-limit", type=_non_negative, default=5.0, help="requests/s per base before 429 (default 5; 0 = off)"
    )
    parser.add_argument(
        "--token-rate-limit", type=_non_negative, default=50.0, help="requests/s for the token (default 50; 0 = off)"
    )
    parser.add_argument("--penalty-seconds", type=_non_negative, default=30.0, help="lock-out after a 429 (default 30)")
    parser.add_argument("--fault-5xx", type=_ratio, default=0.0, help="share of requests answered 503 (default 0)")
    parser.add_argument("--drop-notifications", type=_ratio, default=0.0, help="share of pings dropped (default 0)")
    parser.add_argument(
        "--notification-delay-ms",
        type=_non_negative,
        default=0.0,
        help="send each webhook ping this long after the change (default 0)",
    )
    parser.add_argument(
        "--report-lookup-changes-in-other-records",
        action="store_true",
        help="webhook payloads also list records whose lookups/rollups/counts a write changed (Airtable: undocumented)",
    )
    parser.add_argument(
        "--attachment-url-ttl",
        type=_non_negative,
        default=DEFAULT_TTL_SECONDS,
        help="seconds an attachment URL stays valid after the read that returned it (default 7200, as Airtable)",
    )
    return parser


def run_sandbox(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    sandbox = Sandbox(
        args.token,
        host=args.host,
        port=args.port,
        rate_limit_per_second=args.rate_limit or None,
        token_rate_limit_per_second=args.token_rate_limit or None,
        penalty_seconds=args.penalty_seconds,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        fault_5xx_ratio=args.fault_5xx,
        drop_notification_ratio=args.drop_notifications,
        notification_delay_ms=args.notification_delay_ms,
        report_lookup_changes_in_other_records=args.report_lookup_changes_in_other_records,
        attachment_url_ttl_seconds=args.attachment_url_ttl,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        base_id = sandbox.load_demo(args.records, seed=args.seed, bases=args.bases)
        sandbox.start()
        # The token is a sandbox credential chosen by the operator; printing it is how clients learn it.
        print(f"Airtable sandbox listening on {sandbox.url}", flush=True)
        copies = f", and {args.bases - 1} copies of it" if args.bases > 1 else ""
        print(f"  base id:  {base_id}  ({args.records} demo records, seed {args.seed}{copies})", flush=True)
        print(f"  token:    {args.token}", flush=True)
        print(f"  ready in {time.monotonic() - started:.1f} s; Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
    print("Airtable sandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_sandbox())
