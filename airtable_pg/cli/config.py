"""``airtable-pg config [--markdown]``: the settings in effect (secrets masked), or the README's table of them."""

from __future__ import annotations

import argparse

from pydantic import SecretStr

from airtable_pg.cli.output import EXIT_OK, command, command_settings
from airtable_pg.cli.parsing import command_parser
from airtable_pg.postgres.database import redact
from airtable_pg.settings import configuration_table, env_name


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg config", "Show the settings in effect, and where each came from.")
    parser.add_argument("--markdown", action="store_true", help="print the configuration table of the README")
    return parser


@command("config")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.markdown:
        print(configuration_table())
        return EXIT_OK
    settings = command_settings("config")
    for name, info in type(settings).model_fields.items():
        variable = env_name(info)
        if variable is None:
            continue
        value = getattr(settings, name)
        if name.endswith("_url") and isinstance(value, SecretStr):  # every database URL: password masked
            shown = redact(value.get_secret_value())
        elif value is None:
            shown = "(not set)"
        else:
            shown = str(value)  # SecretStr prints as **********
        print(f"{variable:<32} {shown}")
    return EXIT_OK
