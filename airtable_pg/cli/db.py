"""``airtable-pg db …``: migrations (Alembic) and database roles, for the configured database and spec."""

from __future__ import annotations

import argparse

from alembic import command as alembic
from alembic.config import Config

from airtable_pg.cli.output import EXIT_OK, announce_database, command, command_settings
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres.database import database_url, migration_url, redact
from airtable_pg.postgres.migrate import autogenerate, config_for, downgrade, revision_directory, upgrade
from airtable_pg.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg db", "Database migrations (Alembic) and roles.")
    sub = subcommands(parser)
    up = subcommand(sub, "upgrade", "apply migrations: the state schema's and the mirror tables'")
    up.add_argument("revision", nargs="?", default="heads", help="target revision, e.g. mirror@+1")
    down = subcommand(sub, "downgrade", "revert migrations")
    down.add_argument("revision", help="target revision, e.g. mirror@-1")
    rev = subcommand(
        sub,
        "revision",
        "autogenerate a mirror-table migration from the spec's changes, into AIRTABLE_PG_MIGRATIONS "
        "(nothing is written when the spec and the database agree, unless --empty)",
    )
    rev.add_argument("-m", "--message", required=True, help="what changed (the revision file's name and docstring)")
    rev.add_argument("--empty", action="store_true", help="write a revision even when nothing changed")
    subcommand(sub, "check", "fail if the spec has changes no migration covers")
    subcommand(sub, "current", "show the database's revisions")
    subcommand(
        sub, "roles", "create the migrator, runtime and Dagster roles, their privileges and Dagster's database (admin)"
    )
    url = subcommand(sub, "url", "print the database URL (password masked unless --show-password)")
    url.add_argument("--show-password", action="store_true", help="print the password too")
    return parser


@command("db")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = command_settings("db")
    if args.action not in {"url", "roles"}:
        # Alembic runs as the migration role: the runtime role may not change the schema nor read its history.
        return _migrate(args, settings)
    url = database_url(settings)
    announce_database("db", settings, url, role="runtime" if args.action == "url" else "admin")
    if args.action == "url":
        print(url if args.show_password else redact(url))
        return EXIT_OK
    if args.action == "roles":
        from airtable_pg.postgres.roles import Roles, setup_roles
        from airtable_pg.postgres.schema import schemas
        from airtable_pg.spec import load_spec

        roles = setup_roles(url, schemas(load_spec(settings.spec_path)), Roles.from_settings(settings), settings)
        print(
            f"roles ready: {roles.migrator} (migrations), {roles.runtime} (runtime: rows only) and {roles.dagster} "
            f"(owns database {roles.dagster_database}: Dagster's instance storage)"
        )
    return EXIT_OK


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    url = migration_url(settings)
    if args.action == "revision":
        revision_directory(settings)  # refuse before connecting: the user has a setting to fix first
    announce_database("db", settings, url, role="migration")
    config = config_for(settings, url)
    if args.action == "upgrade":
        upgrade(config, args.revision)
        print(f"database {redact(url)} is at {args.revision}")
    elif args.action == "downgrade":
        downgrade(config, args.revision)
    elif args.action == "revision":
        return _revision(args, settings, config)
    elif args.action == "check":
        alembic.check(config)
    elif args.action == "current":
        alembic.current(config, verbose=True)
    return EXIT_OK


def _revision(args: argparse.Namespace, settings: Settings, config: Config) -> int:
    versions = revision_directory(settings)
    script = autogenerate(config, args.message, versions, empty=args.empty)
    if script is None:
        print(
            f"no revision written: the database already matches the spec (nothing to migrate); "
            f"`db revision --empty -m …` writes an empty one into {versions}"
        )
        return EXIT_OK
    print(f"wrote {script.path}: review it, commit it, then `airtable-pg db upgrade`")
    return EXIT_OK
