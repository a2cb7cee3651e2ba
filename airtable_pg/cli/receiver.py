"""``airtable-pg receiver``: the webhook receiver in the foreground until Ctrl-C or SIGTERM (then exit 0).

Airtable must reach it over public HTTPS: run it behind a TLS-terminating proxy and give Airtable that URL.
"""

from __future__ import annotations

import argparse
import logging

from airtable_pg.cli.output import EXIT_OK, command, command_settings, note, runtime_database
from airtable_pg.cli.parsing import command_parser
from airtable_pg.observability.http import METRICS_PATH
from airtable_pg.receiver.app import DEFAULT_MAX_BODY_BYTES, HEALTH_PATH, WEBHOOK_PATH, build_app, require_webhook_table
from airtable_pg.receiver.server import base_url, bind_socket, serve_in_foreground
from airtable_pg.spec import load_spec

DEFAULT_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "airtable-pg receiver",
        f"Receive Airtable's webhook notifications on POST {WEBHOOK_PATH} and store them in the inbox.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"larger bodies are refused with 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    return parser


@command("receiver")
def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_body_bytes < 1:
        parser.error("--max-body-bytes must be positive")
    settings = command_settings("receiver")
    url = runtime_database("receiver", settings)
    require_webhook_table(url)
    app = build_app(url, max_body_bytes=args.max_body_bytes, spec=load_spec(settings.spec_path))
    sock = bind_socket(args.host, args.port)
    address = base_url(args.host, sock.getsockname()[1])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"receiving Airtable webhook notifications at {address}{WEBHOOK_PATH}", flush=True)
    note(
        "receiver",
        f"health at {address}{HEALTH_PATH}, metrics at {address}{METRICS_PATH}; "
        "give Airtable the public HTTPS URL that reaches it",
    )
    serve_in_foreground(app, sock)
    note("receiver", "stopped")
    return EXIT_OK
