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

from airtable_pg.postgres.alembic_setup import alembic_config
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
    return ScriptDirectory.from_config(alembic_config("postgresql://unused", versions=versions))


def reached(script: ScriptDirectory, applied: frozenset[str]) -> set[str]:
    """Every revision the applied ones stand on, dependencies across branches included.

    Alembic keeps only the heads in its version table: a state revision a mirror revision ``depends_on``
    (the outbox trigger function under the triggers) is absorbed into the mirror's row once both are applied.
    """
    known = {revision.revision for revision in script.walk_revisions()}
    found: set[str] = set()
    pending = [revision for revision in applied if revision in known]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        revision = script.get_revision(name)
        for parent in (*_as_tuple(revision.down_revision), *_as_tuple(revision.dependencies)):
            pending.append(parent)
    return found


def _as_tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def pending_heads(script: ScriptDirectory, applied: frozenset[str]) -> list[str]:
    """The code's heads the database has not reached; a head whose branch shows only unknown (newer) revisions
    counts as reached: the database is ahead of this code."""
    known = {revision.revision for revision in script.walk_revisions()}
    ahead = bool(applied - known)
    done = reached(script, applied)
    pending = []
    for head in script.get_heads():
        if head in done:
            continue
        lineage = {revision.revision for revision in script.iterate_revisions(head, "base")}
        if applied & lineage or not ahead:
            pending.append(head)
    return sorted(pending)


def at_code_heads(script: ScriptDirectory, applied: frozenset[str]) -> bool:
    """Whether a database with these version rows has every head of this code applied."""
    return pending_heads(script, applied) == []


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
    """``mirror head 0009d``: the head's own branch (its down revisions), not the branches it depends on."""
    labels: set[str] = set()
    name: str | None = head
    while name is not None:
        revision = script.get_revision(name)
        labels |= set(revision.branch_labels or ())
        parents = _as_tuple(revision.down_revision)
        name = parents[0] if parents else None
    return f"{'/'.join(sorted(labels))} head {head}" if labels else f"head {head}"
