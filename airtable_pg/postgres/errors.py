"""The Postgres side's errors, as commands and the Dagster layer see them."""

from __future__ import annotations


class SchemaNotReady(RuntimeError):
    """The database lacks a table or column the spec needs: migrations have not been run or generated."""


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or refused the login; the message names it with its password masked."""


class RunLost(RuntimeError):
    """A sync run lost its lease (another process declared it dead): it must not write its outcome."""


def describe_database_error(error: BaseException) -> str | None:
    """One line for a failure to reach or log in to Postgres (psycopg and SQLAlchemy alike); else ``None``."""
    import psycopg
    import sqlalchemy.exc

    original = error.orig if isinstance(error, sqlalchemy.exc.DBAPIError) else error
    if isinstance(original, psycopg.OperationalError):
        # libpq's messages name host, port and user, never the password.
        first = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
        return f"cannot reach the database: {first}"
    return None
