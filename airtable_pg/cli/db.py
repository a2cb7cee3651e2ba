"""``airtable-pg db …``: migrations (Alembic) and database roles, for the configured database and spec."""

from __future__ import annotations

import argparse

from alembic import command as alembic

from airtable_pg.cli.output import EXIT_OK, announce_database, command, command_settings
from airtable_pg.postgres.database import database_url, migration_url, redact
from airtable_pg.postgres.migrate import autogenerate, config_for, downgrade, mirror_versions, upgrade
from airtable_pg.settings import Settings


@command("db")
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="airtable-pg db", description="Database migrations (Alembic) and roles.")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("upgrade", help="apply migrations: the state schema's and the mirror tables' (to heads)")
    up.add_argument("revision", nargs="?", default="heads")
    down = sub.add_parser("downgrade", help="revert migrations (e.g. mirror@-1)")
    down.add_argument("revision")
    rev = sub.add_parser("revision", help="autogenerate a mirror-table migration from the spec's changes")
    rev.add_argument("-m", "--message", required=True)
    sub.add_parser("check", help="fail if the spec has changes no migration covers")
    sub.add_parser("current", help="show the database's revisions")
    sub.add_parser(
        "roles", help="create the migrator, runtime and Dagster roles, their privileges and Dagster's database (admin)"
    )
    sub.add_parser("url", help="print the database URL (password masked unless --show-password)").add_argument(
        "--show-password", action="store_true"
    )
    args = parser.parse_args(argv)
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
    announce_database("db", settings, url, role="migration")
    config = config_for(settings, url)
    if args.action == "upgrade":
        upgrade(config, args.revision)
        print(f"database {redact(url)} is at {args.revision}")
    elif args.action == "downgrade":
        downgrade(config, args.revision)
    elif args.action == "revision":
        autogenerate(config, args.message, mirror_versions(settings))
    elif args.action == "check":
        alembic.check(config)
    elif args.action == "current":
        alembic.current(config, verbose=True)
    return EXIT_OK
