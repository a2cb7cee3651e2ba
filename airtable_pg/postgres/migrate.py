"""``airtable-pg db …``: Alembic migrations without an ini file, for the configured database and spec."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from alembic import command
from alembic.config import Config

from airtable_pg.postgres.database import database_url, redact


def migrations_dir() -> Path:
    env = os.environ.get("AIRTABLE_PG_MIGRATIONS")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str, *, spec_path: str | None = None, script_location: Path | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location or migrations_dir()))
    if spec_path:
        config.attributes["spec_path"] = spec_path
    # '%' is ConfigParser interpolation syntax; a password may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(url: str | None = None, revision: str = "head", *, spec_path: str | None = None) -> None:
    command.upgrade(alembic_config(url or database_url(), spec_path=spec_path), revision)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="airtable-pg db", description="Database migrations (Alembic).")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("upgrade", help="apply migrations (to head by default)")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision")
    rev = sub.add_parser("revision", help="autogenerate a migration from the spec's changes")
    rev.add_argument("-m", "--message", required=True)
    sub.add_parser("check", help="fail if the spec has changes no migration covers")
    sub.add_parser("current", help="show the database's revision")
    sub.add_parser("roles", help="create the migrator and runtime roles and their privileges (run as an admin)")
    sub.add_parser("url", help="print the database URL (password masked unless --show-password)").add_argument(
        "--show-password", action="store_true"
    )
    args = parser.parse_args(argv)
    url = database_url()
    config = alembic_config(url)
    if args.action == "upgrade":
        command.upgrade(config, args.revision)
        print(f"database {redact(url)} is at {args.revision}")
    elif args.action == "downgrade":
        command.downgrade(config, args.revision)
    elif args.action == "revision":
        command.revision(config, message=args.message, autogenerate=True)
    elif args.action == "check":
        command.check(config)
    elif args.action == "roles":
        from airtable_pg.postgres.roles import setup_roles
        from airtable_pg.postgres.schema import schemas
        from airtable_pg.spec import load_spec

        roles = setup_roles(url, schemas(load_spec()))
        print(f"roles ready: {roles.migrator} (migrations) and {roles.runtime} (runtime: rows only)")
    elif args.action == "current":
        command.current(config, verbose=True)
    elif args.action == "url":
        print(url if args.show_password else redact(url))
    return 0
