"""Alembic environment of airtable_pg: two branches in one version table.

* ``state``: the ``airtable_sync`` schema (runs, watermarks, rate-limit buckets…), revisions shipped in
  this package (``airtable_pg/migrations/state``). Every installation gets them from the package.
* ``mirror``: the spec's mirror and join tables, revisions in the user's own directory
  (``AIRTABLE_PG_MIGRATIONS``; the demo's ship in ``airtable_pg/demo_migrations``).

``airtable-pg db revision`` autogenerates into the mirror branch, comparing only the spec's schemas, so
other tables in the same database are never touched. The ``-x metadata=state`` argument compares the
state schema instead (how the package's own state revisions are generated).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from alembic.operations import ops

from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg.postgres.schema import STATE_SCHEMA, build_metadata, mirror_schemas, state_metadata
from airtable_pg.spec import load_spec

VERSION_TABLE = "alembic_version_airtable_pg"

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    raise SystemExit("no database URL: run migrations through `airtable-pg db …`")

spec = None
if context.get_x_argument(as_dictionary=True).get("metadata") == "state":
    target_metadata = state_metadata()
    managed_schemas = {STATE_SCHEMA}
else:
    spec = load_spec(config.attributes.get("spec_path"))
    target_metadata = build_metadata(spec)
    managed_schemas = set(mirror_schemas(spec))


def include_name(name, type_, parent_names):
    if type_ == "schema":
        return name in managed_schemas
    return True


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def create_schemas_first(context_, revision, directives) -> None:
    """Autogenerate does not emit CREATE SCHEMA; make each revision create the schemas its tables need."""
    for script in directives:
        for upgrade in script.upgrade_ops_list:
            needed = sorted({op.schema for op in upgrade.ops if isinstance(op, ops.CreateTableOp) and op.schema})
            for schema in reversed(needed):
                upgrade.ops.insert(0, ops.ExecuteSQLOp(f"create schema if not exists {quote(schema)}"))


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def outbox_trigger_ops(context_, revision, directives) -> None:
    """Autogenerate does not see triggers: add or drop each table's outbox trigger to match its authority.

    A Postgres-authoritative table gets ``airtable_sync.install_outbox_trigger`` (the function ships with the
    state schema); a table that became Airtable-authoritative gets ``drop_outbox_trigger``, which refuses to run
    while that table's outbox still holds unpushed changes.
    """
    if spec is None:
        return
    existing = {
        (schema_name, table_name)
        for schema_name, table_name in context_.connection.execute(
            sa.text(
                "select n.nspname, c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
                "join pg_namespace n on n.oid = c.relnamespace where t.tgname = 'airtable_pg_outbox'"
            )
        )
    }
    for script in directives:
        upgrade, downgrade = script.upgrade_ops_list[-1], script.downgrade_ops_list[-1]
        for base, table in spec.tables():
            where = f"{literal(base.schema)}, {literal(table.mirror)}"
            install = f"select airtable_sync.install_outbox_trigger({where}, {literal(base.id)}, {literal(table.id)})"
            drop = f"select airtable_sync.drop_outbox_trigger({where})"
            present = (base.schema, table.mirror) in existing
            if table.is_postgres_authoritative and not present:
                upgrade.ops.append(ops.ExecuteSQLOp(install))
                downgrade.ops.insert(0, ops.ExecuteSQLOp(drop))
            elif not table.is_postgres_authoritative and present:
                upgrade.ops.append(ops.ExecuteSQLOp(drop))
                downgrade.ops.insert(0, ops.ExecuteSQLOp(install))


def process_revision_directives(context_, revision, directives) -> None:
    create_schemas_first(context_, revision, directives)
    outbox_trigger_ops(context_, revision, directives)


def run_migrations() -> None:
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_schemas=True,
            include_name=include_name,
            version_table=VERSION_TABLE,
            compare_type=True,
            compare_server_default=False,
            process_revision_directives=process_revision_directives,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: airtable_pg migrations run against a live database")
run_migrations()
