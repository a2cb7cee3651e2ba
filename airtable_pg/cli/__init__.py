"""``airtable-pg``: one command for running, syncing and operating airtable_pg.

One module per subcommand in this package, each with ``main(argv, settings) -> exit code``; this file
dispatches, importing lazily so ``airtable-pg sandbox`` starts without loading Dagster. Every command turns
every failure into one line and a documented exit code (``cli.output.command``; tracebacks only with
``--debug``):

    0  success
    1  the work failed (a table did not sync, a server could not be reached, …)
    2  a usage or configuration error (bad setting or spec, migrations missing): fix and re-run
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from airtable_pg.cli.output import DEBUG_VARIABLE, EXIT_OK, EXIT_USAGE

COMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("airtable_pg.cli.dev", "start everything: Postgres, sandbox, migrations, Dagster UI + daemon"),
    "sandbox": ("airtable_pg.cli.sandbox", "run the Airtable API sandbox on its own"),
    "sync": ("airtable_pg.cli.sync", "sync tables now: --full | --incremental [--table T]"),
    "receiver": ("airtable_pg.cli.receiver", "receive Airtable's webhook notifications (POST /airtable/webhook)"),
    "api": ("airtable_pg.cli.api", "serve Airtable's Web API from the mirror; tokens create|list|revoke"),
    "spec": ("airtable_pg.cli.spec", "the sync spec: pull (from Airtable's metadata), check"),
    "db": ("airtable_pg.cli.db", "migrations and roles: upgrade, revision, check, current, url, roles"),
    "webhooks": ("airtable_pg.cli.webhooks", "the live sync's webhooks: ensure, list, refresh, delete, apply"),
    "status": ("airtable_pg.cli.status", "the live sync at a glance: latency p50/p95/p99, queues, dead letters"),
    "metrics": ("airtable_pg.cli.metrics", "serve GET /metrics (Prometheus) without the receiver: --port N"),
    "alerts": ("airtable_pg.cli.alerts", "alerts: rules (Prometheus rules file), list, silence NAME --for 2h"),
    "authority": ("airtable_pg.cli.authority", "the data authority matrix: who owns each table, which way it flows"),
    "outbound": ("airtable_pg.cli.outbound", "push Postgres-authoritative tables: setup, run [--follow], status"),
    "archive": ("airtable_pg.cli.archive", "attachment copies that never expire: run [--follow], status, purge"),
    "dlq": ("airtable_pg.cli.dlq", "dead letters: list, show ID, replay ID…|--all, discard ID --reason TEXT"),
    "config": ("airtable_pg.cli.config", "show the settings in effect (secrets masked)"),
    "checks": ("airtable_pg.cli.checks", "cutover gates now: run [--table T] [--check NAME] [--json]"),
    "cutover": ("airtable_pg.cli.cutover", "cutover status: every gate's latest result per table, ready or not"),
    "flags": ("airtable_pg.cli.flags", "backend flags per entity: show, set ENTITY MODE --reason, history"),
    "shadow": ("airtable_pg.cli.shadow", "shadow reads: report [ENTITY] (compared, mismatch rate, examples)"),
    "bench": ("airtable_pg.cli.bench", "latency baseline: api (p50/p95 per entity, Airtable vs the mirror)"),
    "rollback": ("airtable_pg.cli.rollback", "serve an entity from Airtable again, after the outbox pushed it all"),
}


ENV_VARIABLE = "AIRTABLE_PG_ENV"
ENVIRONMENTS = ("production", "staging")


def usage() -> str:
    lines = ["usage: airtable-pg [--debug] [--env production|staging] <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += [
        "",
        "`airtable-pg <command> --help` for a command's options; --debug prints tracebacks.",
        "--env and --debug may also follow the command (`airtable-pg db current --env staging`).",
        f"--env staging uses DATABASE_URL_STAGING / DATABASE_MIGRATION_URL_STAGING (same as {ENV_VARIABLE}=staging).",
        "exit codes: 0 ok, 1 failed, 2 usage or configuration error, 130 interrupted.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, freeze_imports: bool = False) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        args, environment, debug = take_global_options(args)
    except ValueError as error:
        print(f"airtable-pg: {error}\n\n{usage()}", file=sys.stderr)
        return EXIT_USAGE
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return EXIT_OK
    if args[0] not in COMMANDS:
        print(f"airtable-pg: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return EXIT_USAGE
    if debug:
        os.environ[DEBUG_VARIABLE] = "1"
    if environment is not None:
        # Through the environment, so every process a command starts (dev's children, runs) selects it too.
        os.environ[ENV_VARIABLE] = environment
    module = importlib.import_module(COMMANDS[args[0]][0])
    if freeze_imports:
        # Objects made by imports live as long as the process: out of the collector's generations, the
        # collections a long sync triggers stop walking them (their pauses held every thread, and a
        # rate-limit slot whose sender woke late went unused).
        gc.freeze()
    return int(module.main(args[1:]) or EXIT_OK)  # each command's main reports its own failures (cli.output)


def run() -> None:
    """The process entry point (the ``airtable-pg`` script, ``python -m airtable_pg``): exit with the command's code."""
    code = main(freeze_imports=True)
    # The interpreter's last garbage collection walks every object the imports made (pydantic, SQLAlchemy,
    # pyairtable, rich): 0.15 s added to every command. Frozen objects are left to the OS, which also closes
    # their sockets and files; the standard streams are still flushed. In-process callers (tests) use main().
    gc.freeze()
    sys.exit(code)


def build_parser(name: str) -> argparse.ArgumentParser:
    """The command's own argument parser (no settings read, nothing started): what the docs' commands are checked
    against."""
    return importlib.import_module(COMMANDS[name][0]).build_parser()


def take_global_options(args: list[str]) -> tuple[list[str], str | None, bool]:
    """``--env NAME`` (``--env=NAME``) and ``--debug``, wherever they are typed: before the command or after it.

    People put global options after the subcommand too (``db current --env staging``, as dbt's ``--target``
    and kubectl's ``--context`` allow), and no command has options of those names. Everything after a bare
    ``--`` is left as typed. Returns the other arguments, the environment (or ``None``) and whether to debug.
    """
    environment, debug = None, False
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
        elif arg == "--debug":
            debug = True
        elif arg == "--env":
            environment = next(items, None)
            if environment is None:
                raise ValueError("--env needs a value: production or staging")
        elif arg.startswith("--env="):
            environment = arg.removeprefix("--env=")
        else:
            rest.append(arg)
    if environment is not None and environment not in ENVIRONMENTS:
        raise ValueError(f"--env must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    return rest, environment, debug


if __name__ == "__main__":
    sys.exit(main())
