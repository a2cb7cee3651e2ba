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
        hint = next((text for clue, text in _TLS_HINTS if clue in first), None)
        return f"cannot reach the database: {first}" + (f" (TLS: {hint})" if hint else "")
    return None


# libpq's words for a refused TLS connection → what to check (sslmode / sslrootcert are in the URL's query).
_TLS_HINTS = (
    ("certificate verify failed", "the server's certificate is not signed by the CA in sslrootcert"),
    ("does not match host name", "the server's certificate does not name the host of the URL; use that name"),
    ("root certificate file", "sslrootcert names no readable CA file"),
    ("no encryption", "the server accepts only TLS: add ?sslmode=verify-full&sslrootcert=/path/ca.pem"),
    ("server does not support SSL", "the server has TLS off: ask for it, or lower sslmode (not in production)"),
)
