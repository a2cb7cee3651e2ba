"""``airtable-pg rollback ENTITY --reason TEXT [--timeout S] [--accept-dead-letters]``: serve it from Airtable again.

For a Postgres-authoritative entity it first pushes every change the app wrote (Airtable then holds every write),
refuses while some are dead letters, flips the flag to ``airtable`` and pushes what was written meanwhile; see
``airtable_pg.routing.rollback`` and docs/cutover.md. Exit 0 when flipped, 1 when refused (nothing flipped).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command, command_runtime, command_settings, fail
from airtable_pg.cli.parsing import command_parser
from airtable_pg.routing.flags import BackendFlags, FlagError
from airtable_pg.routing.rollback import RollbackRefused, rollback

NAME = "rollback"


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg rollback", "Serve an entity from Airtable again, losing no write.")
    parser.add_argument("entity", help="base.table, or a table key unique in the spec")
    parser.add_argument("--reason", required=True, help="why, quoted when it has spaces (kept in the audit trail)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the outbox (default 600)")
    parser.add_argument(
        "--accept-dead-letters", action="store_true", help="flip although some changes are dead letters (audited)"
    )
    return parser


@command(NAME)
def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    runtime = command_runtime(NAME, command_settings(NAME))
    flags = BackendFlags(runtime.db, runtime.spec)
    try:
        report = rollback(
            flags,
            runtime.pusher(),
            args.entity,
            reason=args.reason,
            timeout_seconds=args.timeout,
            accept_dead_letters=args.accept_dead_letters,
            on_progress=lambda line: print(line, flush=True),
        )
    except FlagError as error:
        fail(NAME, str(error))
        return EXIT_USAGE
    except RollbackRefused as refused:
        fail(NAME, str(refused))
        return EXIT_FAILED
    print(
        f"{report.entity}: {report.previous_mode} → airtable in {report.seconds:.1f} s; pushed {report.pushed_before} "
        f"change(s) first and {report.pushed_after} written meanwhile; {report.pending_after} still pending"
    )
    for line in report.notes:
        print(f"note: {line}")
    return EXIT_OK
