"""The migration policy, enforced: the runtime works only on a database at this code's migration heads.

Migrating is an explicit deploy step (``airtable-pg db upgrade``, as the migration role); nothing at runtime
ever migrates. Every runtime entry point (sync, ``webhooks``, the receiver, checks, the code location's runs
and sensors) calls :func:`require_migrated` first; while the database is behind either branch's head
(``state`` from the package, ``mirror`` from the user's directory) it refuses with one line naming the command.

The runtime role may not read Alembic's version table (``db roles`` grants it nothing in ``public``), so each
upgrade publishes a ``SECURITY DEFINER`` function that returns the applied revisions and nothing else. The
answer is cached per process once the database is current: the check costs one query per process and database.
A database *ahead* of the code (a newer release migrated it first, as a rolling deploy does) is accepted.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.errors import SchemaNotReady

log = logging.getLogger(__name__)

REVISIONS_FUNCTION = "public.airtable_pg_schema_revisions"
UPGRADE_COMMAND = "airtable-pg db upgrade"

_PUBLISH = f"""
create function {REVISIONS_FUNCTION}() returns setof text
language plpgsql stable security definer set search_path = pg_catalog, public as $$
begin
    return query select version_num::text from public.alembic_version_airtable_pg;
exception when undefined_table then
    return;
end $$
"""


class MigrationsPending(SchemaNotReady):
    """The database is behind the code's migration heads; only the deploy step may change that."""


def publish_revisions(url: str) -> None:
    """Create the function the runtime reads the applied revisions through (once; its body never changes)."""
    with connection_pool(url).begin() as conn:
        exists = conn.execute(sa.text(f"select to_regprocedure('{REVISIONS_FUNCTION}()')")).scalar()
        if exists is None:
            conn.execute(sa.text(_PUBLISH))


def database_revisions(url: str) -> frozenset[str]:
    """The revisions the database is at (empty when it was never migrated by this release's `db upgrade`)."""
    with connection_pool(url).connect() as conn:
        if conn.execute(sa.text(f"select to_regprocedure('{REVISIONS_FUNCTION}()')")).scalar() is None:
            return frozenset()
        return frozenset(conn.execute(sa.text(f"select * from {REVISIONS_FUNCTION}()")).scalars())


@lru_cache(maxsize=8)
def script_directory(versions: Path) -> ScriptDirectory:
    from airtable_pg.postgres.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("postgresql://unused", versions=versions))


def pending_heads(script: ScriptDirectory, applied: frozenset[str]) -> list[str]:
    """The code's heads the database has not reached; a head whose branch shows only unknown (newer) revisions
    counts as reached: the database is ahead of this code."""
    known = {revision.revision for revision in script.walk_revisions()}
    ahead = bool(applied - known)
    pending = []
    for head in script.get_heads():
        if head in applied:
            continue
        lineage = {revision.revision for revision in script.iterate_revisions(head, "base")}
        if applied & lineage or not ahead:
            pending.append(head)
    return sorted(pending)


_checked: set[tuple[str, Path]] = set()
_lock = threading.Lock()


def require_migrated(url: str, versions: Path) -> None:
    """Raise :class:`MigrationsPending` unless the database is at the heads of ``versions`` and the state branch."""
    key = (url, versions.resolve())
    with _lock:
        if key in _checked:
            return
    script = script_directory(key[1])
    pending = pending_heads(script, database_revisions(url))
    if pending:
        names = ", ".join(_describe(script, head) for head in pending)
        raise MigrationsPending(
            f"the database is behind this release's migrations (missing {names}): run `{UPGRADE_COMMAND}` "
            "as the migration role (DATABASE_MIGRATION_URL[_STAGING]) first; the runtime never migrates"
        )
    with _lock:
        _checked.add(key)


def _describe(script: ScriptDirectory, head: str) -> str:
    labels = sorted({label for rev in script.iterate_revisions(head, "base") for label in rev.branch_labels or ()})
    return f"{'/'.join(labels)} head {head}" if labels else f"head {head}"
