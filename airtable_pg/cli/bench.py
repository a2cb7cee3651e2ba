"""``airtable-pg bench api [--entity E]… [--reads N] [--rate R] [--json]``: the cutover's latency baseline.

Per entity, its first page and one record, read from Airtable (through the shared bucket) and from the mirror (the
read path of ``airtable-pg api``): p50/p95 of each and the p95 delta. See ``airtable_pg.api.baseline``; the
Dagster asset ``latency_baseline`` records the same figures over time.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict

from airtable_pg.api.baseline import EndpointBaseline, measure
from airtable_pg.cli.output import EXIT_OK, command, command_runtime, command_settings
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands

NAME = "bench"


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg bench", "Latency baselines.")
    api = subcommand(subcommands(parser), "api", "p50/p95 per entity and endpoint: Airtable vs the mirror")
    api.add_argument("--entity", action="append", help="base.table or a table key (repeatable; default: every one)")
    api.add_argument("--reads", type=int, default=20, help="reads per endpoint and backend (default 20)")
    api.add_argument("--rate", type=float, default=2.0, help="reads a second, open loop (default 2: under 5/s)")
    api.add_argument("--json", action="store_true", help="one JSON object per entity and endpoint")
    return parser


@command(NAME)
def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    runtime = command_runtime(NAME, command_settings(NAME))
    for name in args.entity or []:
        runtime.spec.find_table(name)  # an unknown entity is refused before the header
    if not args.json:
        print(f"{'entity':<38} {'endpoint':<30} {'Airtable p50/p95 ms':>20} {'Postgres p50/p95 ms':>20} "
              f"{'p95 Δ ms':>9}")  # fmt: skip
    measure(
        runtime.spec,
        runtime.api(),
        runtime.database_url,
        entities=args.entity,
        reads=args.reads,
        rate=args.rate,
        on_result=lambda result: print(line(result, as_json=args.json), flush=True),
    )
    return EXIT_OK


def line(result: EndpointBaseline, *, as_json: bool) -> str:
    if as_json:
        return json.dumps({**asdict(result), "p95_delta_ms": result.p95_delta_ms})
    a, p = result.airtable, result.postgres
    return (f"{result.entity:<38} {result.endpoint:<30} {f'{a.p50_ms:.1f} / {a.p95_ms:.1f}':>20} "
            f"{f'{p.p50_ms:.1f} / {p.p95_ms:.1f}':>20} {result.p95_delta_ms:>9.1f}")  # fmt: skip
