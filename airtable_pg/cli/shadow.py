"""``airtable-pg shadow report [ENTITY] [--hours H]``: how Postgres's answers compared with Airtable's in shadow.

Per entity: reads compared, the mismatch rate, reads set aside as in flight, failed comparisons, the fields that
differ most and the latest examples (both values). The same figures decide the cutover's ``shadow_reads`` gate.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import timedelta

from airtable_pg.cli.output import EXIT_OK, command, command_runtime, command_settings
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres import shadow_reads as store
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing.flags import entity_key

NAME = "shadow"
EXAMPLES = 5


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg shadow", "Shadow reads: Postgres's answers compared with Airtable's.")
    report = subcommand(subcommands(parser), "report", "compared reads, mismatch rate, top fields, examples")
    report.add_argument("entity", nargs="?", help="base.table, or a table key unique in the spec (default: all)")
    report.add_argument("--hours", type=float, default=24.0, help="the window (default 24)")
    return parser


@command(NAME)
def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    runtime = command_runtime(NAME, command_settings(NAME))
    entity = None
    if args.entity:
        entity = entity_key(*runtime.spec.find_table(args.entity))
    window = timedelta(hours=args.hours)
    with transaction(runtime.db) as cur:
        tallies = store.tally(cur, entity, window)
        if not tallies:
            print(f"no shadow reads in the last {args.hours:g} h" + (f" of {entity}" if entity else ""))
            return EXIT_OK
        for name, found in tallies.items():
            rate = f"{found.mismatch_rate:.2%}"
            skipped = f", {found.skipped} not compared (the API's comparison queue was full)" if found.skipped else ""
            print(f"{name}: {found.compared} read(s) compared, {found.mismatched} with a mismatch ({rate}), "
                  f"{found.in_flight} set aside as in flight, {found.errors} failed{skipped}")  # fmt: skip
            fields = store.top_fields(cur, name, window, 5)
            if fields:
                print("  fields that differ most: " + ", ".join(f"{field} ({n})" for field, n in fields))
            for example in store.recent_mismatches(cur, name, window, EXAMPLES):
                airtable = json.dumps(example.airtable, ensure_ascii=False)[:80]
                postgres = json.dumps(example.postgres, ensure_ascii=False)[:80]
                print(f"  {example.at:%Y-%m-%d %H:%M:%S} {example.record_id} {example.field_id or '(record)'}: "
                      f"Airtable {airtable} · Postgres {postgres} [{example.request[:60]}]")  # fmt: skip
    return EXIT_OK
