"""``airtable-pg checks run [--table T …] [--check NAME …] [--json]``: run the cutover gates now.

Prints one row per table and check (table, check, severity, result, a one-line reason), or with ``--json``
one object per check (``table``, ``check``, ``severity``, ``passed``, ``reason``, ``failing_ids`` …). Each
result is stored for ``airtable-pg cutover status``. Exit code 0 when every blocking check passed (a failed
warning does not block), 1 otherwise, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from airtable_pg.checks.context import table_name
from airtable_pg.checks.result import CheckResult
from airtable_pg.checks.runner import CHECKS, run_checks
from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, command, command_runtime, command_settings, note
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres.check_results import store_results
from airtable_pg.settings import Settings
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec, load_spec


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg checks", "Cutover gates: run them now.")
    sub = subcommands(parser)
    run = subcommand(sub, "run", "run checks, print and store their results (exit 1 when a blocking one fails)")
    run.add_argument("--table", action="append", default=[], metavar="T", help="a table (repeatable; default: all)")
    run.add_argument(
        "--check", action="append", default=[], choices=list(CHECKS), metavar="NAME",
        help=f"a check (repeatable; default: all): {', '.join(CHECKS)}",
    )  # fmt: skip
    run.add_argument("--json", action="store_true", help="one JSON object per check, one per line")
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def selected(spec: SyncSpec, names: list[str]) -> list[tuple[BaseSpec, TableSpec]]:
    if not names:
        return list(spec.tables())
    found = [spec.find_table(name) for name in names]
    return list({(base.key, table.key): (base, table) for base, table in found}.values())


@command("checks")
def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    settings = command_settings("checks")
    spec = load_spec(settings.spec_path)
    tables = selected(spec, args.table)
    runtime = command_runtime("checks", settings, spec=spec)
    ctx = runtime.checks()
    db = runtime.db
    results = run_checks(ctx, tables, args.check or None)
    ids = {f"{b.key}.{t.key}": (b.id, t.id) for b, t in tables}
    store_results(db, [(*ids[r.table], r.as_json()) for r in results])
    _record_on_dagster(settings, tables, results)
    if args.json:
        for r in results:
            print(json.dumps(r.as_json(), ensure_ascii=False, default=str))
    else:
        _console().print(results_table(results))
    return EXIT_FAILED if any(r.blocks for r in results) else EXIT_OK


def _record_on_dagster(
    settings: Settings, tables: list[tuple[BaseSpec, TableSpec]], results: list[CheckResult]
) -> None:
    """The same verdicts on the Dagster instance (beside ``make dev``: the stack's), so its UI and ``cutover
    status`` agree with the last evaluation wherever it ran."""
    if settings.dagster_home is None:
        return
    from airtable_pg.defs.instance_events import recorder_for

    recorder = recorder_for(settings)
    if recorder is None:
        return
    for base, table in tables:
        recorder.check_results(base, table, [r for r in results if r.table == table_name(base, table)])
    note("checks", f"recorded in Dagster: {len(results)} check evaluation(s)")


def results_table(results: list[CheckResult]) -> Table:
    table = Table(title="airtable-pg checks")
    for heading in ("table", "check", "severity", "result"):
        table.add_column(heading, no_wrap=True)
    table.add_column("reason")
    table.add_column("requests", justify="right")
    for r in results:
        verdict = "[green]passed" if r.passed else ("[red]FAILED" if r.blocks else "[yellow]warning")
        table.add_row(r.table, r.check, r.severity, verdict, r.reason, str(r.requests))
    return table


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=240)
