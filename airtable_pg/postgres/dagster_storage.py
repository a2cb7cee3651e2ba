"""Dagster's instance storage: a database of its own, owned by a role of its own (``db roles`` sets it up).

A database rather than a schema in the mirror's database: dagster-postgres has no schema setting (only
``postgres_db.params``, where a libpq ``options=-csearch_path=…`` would be the one lever), and it keeps its Alembic
version table under the generic name ``alembic_version``, beside the mirror's in ``public``. Its own database
separates the two completely: Dagster upgrades migrate only their tables, ``CONNECT`` keeps the mirror's roles out
of it, and the Dagster role holds no privilege in the mirror's database. It is also what the Dagster Helm chart
and ``airtable-pg dev`` do.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from airtable_pg.postgres.database import libpq_url, with_database

# What Dagster's storage creates in its database; whatever an earlier owner (a hand-made role, `airtable-pg dev`'s
# superuser) created there is handed to the Dagster role, so its next schema migration may alter it.
_OWNED_KINDS = {"r": "table", "p": "table", "S": "sequence", "v": "view", "m": "materialized view"}


def setup_dagster_storage(admin: psycopg.Connection, server_url: str, *, role: str, database: str) -> None:
    """Create ``database`` owned by ``role`` (or hand an existing one over); only ``role`` may connect to it.

    ``admin`` is an autocommit connection of a superuser (or a role with CREATEDB and membership in ``role``).
    """
    name, owner = sql.Identifier(database), sql.Identifier(role)
    if admin.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
        admin.execute(sql.SQL("alter database {} owner to {}").format(name, owner))
    else:
        admin.execute(sql.SQL("create database {} owner {}").format(name, owner))
    # Every role may connect to a new database by default; the runtime and migrator roles have no business there.
    admin.execute(sql.SQL("revoke all on database {} from public").format(name))
    admin.execute(sql.SQL("grant connect, temporary on database {} to {}").format(name, owner))
    with psycopg.connect(libpq_url(with_database(server_url, database)), autocommit=True) as storage:
        storage.execute(sql.SQL("alter schema public owner to {}").format(owner))
        storage.execute("revoke create on schema public from public")
        owned = storage.execute(
            "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind::text = any(%s) and pg_get_userbyid(c.relowner) <> %s "
            # a serial's or identity's sequence follows its table's owner (and refuses one of its own)
            "and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i') "
            "and c.relkind = 'S')",
            (list(_OWNED_KINDS), role),
        ).fetchall()
        for relation, kind in owned:
            kind_sql, target = sql.SQL(_OWNED_KINDS[kind]), sql.Identifier("public", relation)
            storage.execute(sql.SQL("alter {} {} owner to {}").format(kind_sql, target, owner))
