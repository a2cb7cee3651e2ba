"""``airtable-pg metrics``: ``GET /metrics`` on its own, for deployments that run no receiver (payloads polled).

The receiver serves the same route; run one of the two per database (both would report the same figures). The
metrics are read from Postgres at each scrape, so this process holds no state and may restart at any time.
"""

from __future__ import annotations

import argparse

from starlette.applications import Starlette

from airtable_pg.cli.output import EXIT_OK, command, command_settings, note, runtime_database
from airtable_pg.cli.parsing import command_parser
from airtable_pg.observability.http import METRICS_PATH, metrics_route
from airtable_pg.postgres.database import connection_pool
from airtable_pg.receiver.server import base_url, bind_socket, serve_in_foreground
from airtable_pg.spec import load_spec

DEFAULT_PORT = 9464  # the port OpenTelemetry's and many exporters' Prometheus endpoints use


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg metrics", f"Serve GET {METRICS_PATH} (Prometheus) from the state schema.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})")
    return parser


@command("metrics")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = command_settings("metrics")
    url = runtime_database("metrics", settings)
    app = Starlette(routes=[metrics_route(connection_pool(url), load_spec(settings.spec_path))])
    sock = bind_socket(args.host, args.port)
    print(f"serving metrics at {base_url(args.host, sock.getsockname()[1])}{METRICS_PATH}", flush=True)
    serve_in_foreground(app, sock)
    note("metrics", "stopped")
    return EXIT_OK
