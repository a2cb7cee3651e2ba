"""``airtable-pg spec pull | check``: write the spec from Airtable's metadata API; validate it."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from airtable_pg.airtable.client import AirtableConfig, RequestStats, make_api
from airtable_pg.airtable.errors import AirtableError
from airtable_pg.cli.output import EXIT_OK, EXIT_USAGE, command, command_settings, fail
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.settings import Settings
from airtable_pg.spec import dump_spec, load_spec
from airtable_pg.spec_pull import leading_comments, pull


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg spec", "The sync spec.")
    sub = subcommands(parser)
    p = subcommand(
        sub,
        "pull",
        "write tables and fields from Airtable's metadata API into the spec (needs only Airtable); your edits to "
        "names, authority, lane and intervals survive",
    )
    p.add_argument("--base", required=True, help="Airtable base id (app…)")
    p.add_argument("--key", help="key for a new base in the spec (default: from the base id)")
    p.add_argument("--spec", help="spec file to write (default: AIRTABLE_PG_SPEC)")
    subcommand(sub, "check", "validate the spec and print its tables")
    return parser


@command("spec")
def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = command_settings("spec")
    if args.action == "check":
        return check(settings)
    spec_path = args.spec or settings.spec_path
    if not spec_path:
        parser.error("--spec or AIRTABLE_PG_SPEC is required (the file to write)")
    config = AirtableConfig.from_settings(settings)
    # Only Airtable: a pull is one metadata request per base, so it needs neither a database nor the shared
    # rate-limit bucket held there (a first pull comes before any database; a down one must not block it).
    api = make_api(config, None, RequestStats(), cancel=threading.Event())
    path = Path(spec_path)
    try:
        spec = pull(path, api, args.base, args.key)
    except AirtableError as error:
        fail("spec", f"could not read the schema of base {args.base}: {error}")
        return EXIT_USAGE
    path.write_text(leading_comments(path) + dump_spec(spec), encoding="utf-8")
    tables = sum(len(b.tables) for b in spec.bases.values())
    print(f"wrote {path}: {tables} tables")
    return EXIT_OK


def check(settings: Settings) -> int:
    spec = load_spec(settings.spec_path)
    for base, table in spec.tables():
        print(
            f"{base.key}.{table.key}: {len(table.fields)} fields → {base.schema}.{table.mirror} "
            f"({table.authority}, {table.lane} lane, poll {table.poll_interval_seconds}s)"
        )
    return EXIT_OK
