"""Separate database roles: one that migrates the schema, one that the running system uses, one for Dagster.

The runtime role reads and writes rows (mirror tables, join tables, sync state) but cannot create,
alter or drop anything, so a bug or an injection in the sync path can never change the schema.
Migrations run as the migrator role, which owns the schemas and tables; default privileges make
every table it creates later readable and writable by the runtime role automatically.

Dagster's instance storage gets a database of its own, owned by a third role (``dagster_storage.py``).

Passwords come only from the environment (``AIRTABLE_PG_MIGRATOR_PASSWORD``, ``AIRTABLE_PG_RUNTIME_PASSWORD``,
``AIRTABLE_PG_DAGSTER_PASSWORD``). A role without a password is created NOLOGIN: grant it to an existing login role
instead (``GRANT airtable_pg_runtime TO app_user``).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from airtable_pg.postgres.dagster_storage import setup_dagster_storage
from airtable_pg.postgres.database import libpq_url
from airtable_pg.settings import Settings


@dataclass(frozen=True)
class Roles:
    migrator: str
    runtime: str
    dagster: str  # owns Dagster's instance storage: the database ``dagster_database``
    dagster_database: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Roles:
        return cls(
            migrator=settings.migrator_role,
            runtime=settings.runtime_role,
            dagster=settings.dagster_role,
            dagster_database=settings.dagster_database,
        )


def _ensure_role(conn: psycopg.Connection, name: str, password: str | None) -> None:
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
    verb = sql.SQL("alter role") if exists else sql.SQL("create role")
    if password:
        conn.execute(sql.SQL("{} {} login password {}").format(verb, sql.Identifier(name), sql.Literal(password)))
    else:
        conn.execute(sql.SQL("{} {} nologin").format(verb, sql.Identifier(name)))


def setup_roles(url: str, schemas: list[str], roles: Roles, settings: Settings) -> Roles:
    """Create or update the three roles, their privileges on ``schemas`` and Dagster's database; run as a superuser
    (creating Dagster's database needs CREATEDB)."""
    migrator, runtime = sql.Identifier(roles.migrator), sql.Identifier(roles.runtime)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        _ensure_role(conn, roles.migrator, _secret(settings.migrator_password))
        _ensure_role(conn, roles.runtime, _secret(settings.runtime_password))
        _ensure_role(conn, roles.dagster, _secret(settings.dagster_password))
        setup_dagster_storage(conn, url, role=roles.dagster, database=roles.dagster_database)
        database = sql.Identifier(conn.execute("select current_database()").fetchone()[0])
        conn.execute(sql.SQL("grant connect, create on database {} to {}").format(database, migrator))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(database, runtime))
        # Alembic's version table lives in public; the migrator must be able to create and update it.
        conn.execute(sql.SQL("grant usage, create on schema public to {}").format(migrator))
        conn.execute(sql.SQL("grant usage on schema public to {}").format(runtime))
        for schema_name in schemas:
            schema = sql.Identifier(schema_name)
            conn.execute(sql.SQL("create schema if not exists {} authorization {}").format(schema, migrator))
            conn.execute(sql.SQL("alter schema {} owner to {}").format(schema, migrator))
            for (table,) in conn.execute("select tablename from pg_tables where schemaname = %s", (schema_name,)):
                conn.execute(sql.SQL("alter table {} owner to {}").format(sql.Identifier(schema_name, table), migrator))
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(schema, runtime))
            conn.execute(
                sql.SQL("grant select, insert, update, delete on all tables in schema {} to {}").format(schema, runtime)
            )
            conn.execute(sql.SQL("grant usage, select on all sequences in schema {} to {}").format(schema, runtime))
            conn.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema {} grant select, insert, update, delete "
                    "on tables to {}"
                ).format(migrator, schema, runtime)
            )
            conn.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema {} grant usage, select on sequences to {}"
                ).format(migrator, schema, runtime)
            )
        for (table,) in conn.execute(
            "select tablename from pg_tables where schemaname = 'public' and tablename = 'alembic_version_airtable_pg'"
        ):
            conn.execute(sql.SQL("alter table {} owner to {}").format(sql.Identifier("public", table), migrator))
    return roles


def _secret(value: object) -> str | None:
    return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]
