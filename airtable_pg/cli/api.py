"""``airtable-pg api``: Airtable's Web API served from the Postgres mirror, until Ctrl-C or SIGTERM (then exit 0).

``airtable-pg api tokens create --name app --bases appX --read|--write`` issues a token for apps (printed once,
stored only as a digest); ``tokens list`` and ``tokens revoke NAME`` manage them. ``--workers N`` runs N
processes on one port (uvicorn's), each building its own runtime from the same settings.
"""

from __future__ import annotations

import argparse
import logging

from starlette.applications import Starlette

from airtable_pg.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    command,
    command_runtime,
    command_settings,
    note,
    runtime_database,
)
from airtable_pg.cli.parsing import command_parser, subcommand
from airtable_pg.postgres import api_tokens
from airtable_pg.postgres.transaction import transaction
from airtable_pg.runtime import Runtime
from airtable_pg.settings import load_settings

DEFAULT_PORT = 8766


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "airtable-pg api",
        "Serve Airtable's Web API (records: list, get) from the Postgres mirror; point an app's Airtable URL here.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})")
    parser.add_argument("--workers", type=int, default=1, help="processes serving the port (default 1)")
    sub = parser.add_subparsers(dest="action")
    tokens = subcommand(sub, "tokens", "the tokens apps use: create, list, revoke")
    actions = tokens.add_subparsers(dest="token_action", required=True)
    create = subcommand(actions, "create", "issue a token (printed once; only its digest is stored)")
    create.add_argument("--name", required=True, help="a unique name for the app that uses it")
    create.add_argument("--bases", required=True, nargs="+", help="the base ids it may use")
    access = create.add_mutually_exclusive_group(required=True)
    access.add_argument("--read", action="store_true", help="list and get records")
    access.add_argument("--write", action="store_true", help="read, and write records")
    subcommand(actions, "list", "every token: id, name, bases, access, created, revoked")
    revoke = subcommand(actions, "revoke", "revoke a token by name or id (effective within seconds)")
    revoke.add_argument("token", help="the token's name or id")
    return parser


@command("api")
def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.action == "tokens":
        return _tokens(args)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return _serve(args.host, args.port, args.workers)


def _tokens(args: argparse.Namespace) -> int:
    runtime = command_runtime("api", command_settings("api"))
    with transaction(runtime.db) as cur:
        if args.token_action == "create":
            unknown = sorted(set(args.bases) - {base.id for base in runtime.spec.bases.values()})
            if unknown:
                note("api", f"not in the spec: {', '.join(unknown)}")
                return EXIT_USAGE
            token, text = api_tokens.create_token(cur, args.name, args.bases, can_write=args.write)
            note("api", f"token {token.id} ({token.name}): shown once, keep it secret")
            print(text)
            return EXIT_OK
        if args.token_action == "revoke":
            if not api_tokens.revoke_token(cur, args.token):
                note("api", f"no live token named or with id {args.token!r}")
                return EXIT_FAILED
            print(f"revoked {args.token}")
            return EXIT_OK
        for token in api_tokens.list_tokens(cur):
            access = "write" if token.can_write else "read"
            revoked = f" revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else ""
            print(f"{token.id}  {token.name}  {','.join(token.bases)}  {access}  {token.created_at:%Y-%m-%d}{revoked}")
    return EXIT_OK


def create_app() -> Starlette:
    """The app each uvicorn worker process builds for itself (``--workers N``), from the same settings and gate."""
    settings = load_settings()
    return Runtime.from_settings(settings, database_url=runtime_database("api", settings)).api_app()


def _serve(host: str, port: int, workers: int) -> int:
    from airtable_pg.receiver.server import base_url, bind_socket, serve_in_foreground

    runtime = command_runtime("api", command_settings("api"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if workers > 1:
        import uvicorn

        print(f"serving the Airtable API at {base_url(host, port)}/v0 ({workers} workers)", flush=True)
        uvicorn.run(
            "airtable_pg.cli.api:create_app", factory=True, host=host, port=port, workers=workers, log_config=None
        )
        return EXIT_OK
    app = runtime.api_app()
    sock = bind_socket(host, port)
    address = base_url(host, sock.getsockname()[1])
    print(f"serving the Airtable API at {address}/v0", flush=True)
    note("api", f"health at {address}/healthz; apps use tokens from `airtable-pg api tokens create`")
    serve_in_foreground(app, sock)
    note("api", "stopped")
    return EXIT_OK
