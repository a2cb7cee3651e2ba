"""Which Postgres to use and how to connect to it.

``DATABASE_URL`` wins; without it the embedded server starts. TLS is libpq's: put ``sslmode``,
``sslrootcert``, ``sslcert``, ``sslkey`` in the URL's query (``?sslmode=verify-full&sslrootcert=…``)
and psycopg passes them on. Passwords come only from the URL or libpq's own ``PGPASSWORD`` /
``.pgpass``, and are masked in everything we print (``redact``).
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from airtable_pg.settings import Settings


def database_url(settings: Settings) -> str:
    """The selected environment's database (``DATABASE_URL[_STAGING]``) or the embedded server's (started on demand)."""
    selected = settings.selected_database_url
    if selected is not None:
        return selected.get_secret_value()
    from airtable_pg.postgres.embedded import start_embedded

    return start_embedded(settings.home / "pgdata")


def migration_url(settings: Settings) -> str:
    """The selected environment's database as the migration role (``DATABASE_MIGRATION_URL[_STAGING]``), else the
    runtime URL: what Alembic connects with."""
    migration = settings.migration_database_url
    return migration.get_secret_value() if migration is not None else database_url(settings)


def sqlalchemy_url(url: str) -> str:
    """``postgres://`` / ``postgresql://`` → the psycopg 3 dialect SQLAlchemy needs."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def libpq_url(url: str) -> str:
    """The plain libpq form (for psql, psycopg.connect and dagster-postgres)."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return (
        make_url(sqlalchemy_url(url))
        .set(database=database)
        .render_as_string(hide_password=False)
        .replace("postgresql+psycopg://", "postgresql://", 1)
    )


def redact(url: str) -> str:
    try:
        return (
            make_url(sqlalchemy_url(url))
            .render_as_string(hide_password=True)
            .replace("postgresql+psycopg://", "postgresql://", 1)
        )
    except (ValueError, sa.exc.ArgumentError):  # an unparsable URL is still never printed whole
        return "postgresql://***"


@lru_cache(maxsize=8)
def connection_pool(url: str, *, pool_size: int = 10) -> sa.Engine:
    """One SQLAlchemy connection pool per URL per process (thread-safe; connections are not shared)."""
    return sa.create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # A sync holds a connection per worker; application_name makes them visible in pg_stat_activity.
        connect_args={"application_name": "airtable_pg"},
    )


def ensure_database(url: str, database: str) -> None:
    """Create ``database`` on the server of ``url`` if it does not exist (used for Dagster's storage)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
