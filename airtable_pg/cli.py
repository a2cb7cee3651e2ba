"""``airtable-pg``: one command for running, syncing and operating airtable_pg.

Each subcommand lives in the module that owns its work; this file only dispatches, importing
lazily so ``airtable-pg sandbox`` starts without loading Dagster.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str, str]] = {
    "dev": ("airtable_pg.devserver", "run_dev", "start everything: Postgres, sandbox, migrations, Dagster UI + daemon"),
    "sandbox": ("airtable_pg.sandbox.main", "run_sandbox", "run the Airtable API sandbox on its own"),
    "sync": ("airtable_pg.sync.cli_sync", "run", "sync tables now: --full | --incremental [--table T]"),
    "spec": ("airtable_pg.spec_pull", "run", "the sync spec: pull (from Airtable's metadata), check"),
    "db": ("airtable_pg.postgres.migrate", "run", "migrations: upgrade, revision, check, current, url"),
}


def usage() -> str:
    lines = ["usage: airtable-pg <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_text}" for name, (_, _, help_text) in COMMANDS.items()]
    lines += ["", "`airtable-pg <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] not in COMMANDS:
        print(f"airtable-pg: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, function_name, _ = COMMANDS[args[0]]
    function = getattr(importlib.import_module(module_name), function_name)
    return int(function(args[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
