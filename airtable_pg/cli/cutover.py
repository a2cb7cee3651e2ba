"""``airtable-pg cutover status [--json]`` and ``airtable-pg cutover ENTITY --reason TEXT``.

``status``: per entity, every gate's latest stored result, and ready or not (the results the Dagster asset checks
and ``airtable-pg checks run`` stored; it runs no check itself). Exit 0 when every table is ready, 1 otherwise.

``cutover ENTITY``: flips the entity to ``postgres_primary`` if every blocking gate passed and its shadow reads
compared enough reads with few enough mismatches; else one line naming the gate, exit 1, nothing flipped.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from airtable_pg.checks.cutover import EntityStatus, cutover_status
from airtable_pg.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    command,
    command_runtime,
    command_settings,
    fail,
    runtime_database,
)
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres.check_results import latest_results
from airtable_pg.postgres.database import connection_pool
from airtable_pg.settings import Settings
from airtable_pg.spec import load_spec


class CutoverParser(argparse.ArgumentParser):
    """``cutover ENTITY …`` reads as ``cutover to ENTITY …``: the entity is the command's object."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def, override]
        args = list(args or [])
        top = self._subparsers is not None  # its subcommands' parsers are of this class too
        if top and args and not args[0].startswith("-") and args[0] not in SUBCOMMANDS:
            args = ["to", *args]
        return super().parse_known_args(args, namespace)


SUBCOMMANDS = ("status", "to", "drill")


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "airtable-pg cutover", "Is each entity ready to cut over? Cut one over.", parser_class=CutoverParser
    )
    sub = subcommands(parser)
    status = subcommand(sub, "status", "every gate's latest result per table, and ready / not ready")
    status.add_argument("--json", action="store_true", help="one JSON object per table")
    to = subcommand(sub, "to", "cutover ENTITY: serve it from Postgres, if every gate and the shadow reads pass")
    to.add_argument("entity", help="base.table, or a table key unique in the spec")
    to.add_argument("--reason", required=True, help="why, quoted when it has spaces (kept in the audit trail)")
    drill = subcommand(sub, "drill", "the rollback drill, end to end (staging): probe row → rollback → Airtable")
    drill.add_argument("entity", help="a Postgres-authoritative table: base.table, or a unique table key")
    return parser


@command("cutover")
def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    settings = command_settings("cutover")
    if args.action == "to":
        return _cut_over(args, settings)
    if args.action == "drill":
        return _drill(args, settings)
    spec = load_spec(settings.spec_path)
    entities = cutover_status(
        spec, latest_results(connection_pool(runtime_database("cutover", settings))), datetime.now(UTC)
    )
    if args.json:
        for entity in entities:
            print(json.dumps(as_json(entity), ensure_ascii=False))
    else:
        console = Console() if Console().is_terminal else Console(width=240)
        console.print(status_table(entities))
    return EXIT_OK if all(e.ready for e in entities) else EXIT_FAILED


def _cut_over(args: argparse.Namespace, settings: Settings) -> int:
    from airtable_pg.routing.cutover import CutoverRefused, cut_over
    from airtable_pg.routing.flags import BackendFlags, FlagError

    runtime = command_runtime("cutover", settings)
    try:
        previous, flag = cut_over(BackendFlags(runtime.db, runtime.spec), args.entity, reason=args.reason)
    except FlagError as error:
        fail("cutover", str(error))
        return EXIT_USAGE
    except CutoverRefused as refused:
        fail("cutover", str(refused))
        return EXIT_FAILED
    print(f"{flag.entity}: {previous} → {flag.stored}, by {flag.updated_by}: {flag.reason}")
    return EXIT_OK


def _drill(args: argparse.Namespace, settings: Settings) -> int:
    from airtable_pg.routing.drill import DrillFailed, drill
    from airtable_pg.routing.flags import BackendFlags

    runtime = command_runtime("cutover", settings)
    pusher = runtime.pusher()
    pusher.ensure_key_fields()
    try:
        report = drill(BackendFlags(runtime.db, runtime.spec), pusher, args.entity)
    except DrillFailed as failed:
        fail("cutover", f"drill failed: {failed}")
        return EXIT_FAILED
    for what, seconds in report.steps:
        print(f"{seconds:7.2f} s  {what}")
    print(f"{report.entity}: drill passed")
    return EXIT_OK


def as_json(entity: EntityStatus) -> dict:
    return {
        "table": entity.table,
        "ready": entity.ready,
        "gates": [
            {
                "check": g.check,
                "state": g.state,
                "reason": g.reason,
                "checked_at": g.checked_at.isoformat() if g.checked_at else None,
            }
            for g in entity.gates
        ],
    }


def status_table(entities: list[EntityStatus]) -> Table:
    table = Table(title="airtable-pg cutover status")
    table.add_column("table", no_wrap=True)
    table.add_column("ready", no_wrap=True)
    table.add_column("gate", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("reason")
    colours = {"passed": "green", "warning": "yellow"}
    for entity in entities:
        for index, gate in enumerate(entity.gates):
            ready = ("[green]ready" if entity.ready else "[red]not ready") if index == 0 else ""
            colour = colours.get(gate.state, "red")
            table.add_row(entity.table if index == 0 else "", ready, gate.check, f"[{colour}]{gate.state}", gate.reason)
    return table
