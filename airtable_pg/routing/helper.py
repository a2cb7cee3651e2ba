"""``backend_for(entity)``: the flag an app that reads Postgres itself follows, the same switch as the API's.

    from airtable_pg.routing import backend_for

    if backend_for("users") == "postgres_primary":
        ...  # read the mirror
    else:
        ...  # read Airtable

The environment pin (``DATA_BACKEND_USERS``) of the app's own process wins, as it does in the API; otherwise the
stored flag, re-read at most every half second; any failure answers ``airtable``. In SQL the same stored flag is
``select airtable_sync.backend_mode('coaching.users')`` (a pin lives in a process, so SQL cannot see one).
"""

from __future__ import annotations

import threading

import psycopg
import sqlalchemy as sa

from airtable_pg.routing.flags import AIRTABLE, BackendFlags, FlagError

_lock = threading.Lock()
_flags: dict[tuple[str, str], BackendFlags] = {}


def backend_for(entity: str, *, database_url: str | None = None, spec_path: str | None = None) -> str:
    """``airtable``, ``shadow`` or ``postgres_primary`` for ``entity`` (``base.table`` or a unique table key),
    from ``DATABASE_URL`` and ``AIRTABLE_PG_SPEC`` unless given."""
    try:
        return _reader(database_url, spec_path).mode(entity)
    except (sa.exc.SQLAlchemyError, psycopg.Error, OSError):
        return AIRTABLE  # fail safe: Airtable still holds every record


def _reader(database_url: str | None, spec_path: str | None) -> BackendFlags:
    from airtable_pg.postgres.database import connection_pool
    from airtable_pg.settings import load_settings
    from airtable_pg.spec import load_spec

    settings = load_settings()
    if database_url is None and settings.selected_database_url is None:
        raise FlagError("backend_for needs the mirror's database: set DATABASE_URL (or pass database_url=)")
    url = database_url or settings.selected_database_url.get_secret_value()  # type: ignore[union-attr]
    spec = spec_path or settings.spec_path
    key = (url, str(spec))
    with _lock:
        if key not in _flags:
            _flags[key] = BackendFlags(connection_pool(url), load_spec(spec))
        return _flags[key]
