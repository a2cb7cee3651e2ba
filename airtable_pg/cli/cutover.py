"""``airtable-pg cutover status [--json]``: per entity, every gate's latest stored result, and ready or not.

Reads the results the Dagster asset checks and ``airtable-pg checks run`` stored; runs no check itself.
Exit code 0 when every table is ready, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from airtable_pg.checks.cutover import EntityStatus, cutover_status
from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, command, command_settings, runtime_database
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres.check_results import latest_results
from airtable_pg.postgres.database import connection_pool
from airtable_pg.spec import load_spec


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg cutover", "Is each entity ready to cut over?")
    status = subcommand(subcommands(parser), "status", "every gate's latest result per table, and ready / not ready")
    status.add_argument("--json", action="store_true", help="one JSON object per table")
    return parser


@command("cutover")
def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    settings = command_settings("cutover")
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
