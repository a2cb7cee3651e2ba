"""The runtime role writes rows but cannot change the schema; the migrator role can migrate; Dagster's role owns
Dagster's database and nothing else, and no other role gets into it."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from airtable_pg.postgres.database import libpq_url, sqlalchemy_url
from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, upgrade
from airtable_pg.postgres.revisions import at_code_heads, database_revisions, require_migrated, script_directory
from airtable_pg.postgres.roles import Roles, setup_roles
from airtable_pg.postgres.schema import schemas
from airtable_pg.settings import load_settings
from airtable_pg.spec import load_spec
from airtable_pg_tests.dagster_instance import store_a_run

PASSWORDS = {"test_migrator": "migrator-secret", "test_runtime": "runtime-secret", "test_dagster": "dagster-secret"}
# passwords only ever come from the environment
ROLE_ENVIRONMENT = {
    "AIRTABLE_PG_MIGRATOR_PASSWORD": PASSWORDS["test_migrator"],
    "AIRTABLE_PG_RUNTIME_PASSWORD": PASSWORDS["test_runtime"],
    "AIRTABLE_PG_DAGSTER_PASSWORD": PASSWORDS["test_dagster"],
}


def as_role(url: str, role: str, *, database: str | None = None, driver: str = "postgresql") -> str:
    rendered = make_url(sqlalchemy_url(url)).set(username=role, password=PASSWORDS[role])
    if database is not None:
        rendered = rendered.set(database=database)
    return rendered.render_as_string(hide_password=False).replace("postgresql+psycopg://", f"{driver}://", 1)


@pytest.fixture(scope="module")
def role_db(new_database):
    url = new_database("roles")
    dagster_database = f"dagster_roles_{os.getpid()}"
    roles = Roles(migrator="test_migrator", runtime="test_runtime", dagster="test_dagster",
                  dagster_database=dagster_database)  # fmt: skip
    # before any migration: the migrator creates all
    setup_roles(url, schemas(load_spec()), roles, load_settings(ROLE_ENVIRONMENT))
    upgrade(alembic_config(as_role(url, roles.migrator), versions=DEMO_VERSIONS))
    return url, roles


def test_runtime_role_writes_rows(role_db):
    url, roles = role_db
    with psycopg.connect(libpq_url(as_role(url, roles.runtime))) as conn:
        conn.execute("insert into airtable.users (airtable_id, name) values ('recRoleTest000001', 'Runtime')")
        conn.execute("insert into airtable_sync.rate_limit (base_id) values ('appRoleTest000001')")
        assert conn.execute("select name from airtable.users").fetchall() == [("Runtime",)]


@pytest.mark.parametrize(
    "ddl",
    [
        "create table airtable.sneaky (x int)",
        "alter table airtable.users add column sneaky text",
        "drop table airtable_sync.change_event",
        "create schema sneaky",
        "drop schema airtable cascade",
        "create index sneaky on airtable.users (name)",
        # nor read or touch the migration history (it learns the applied revisions through a function only)
        "select * from public.alembic_version_airtable_pg",
        "delete from public.alembic_version_airtable_pg",
    ],
)
def test_runtime_role_cannot_change_the_schema(role_db, ddl):
    url, roles = role_db
    with (
        psycopg.connect(libpq_url(as_role(url, roles.runtime))) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(ddl)


def test_migrator_owns_what_it_migrates_and_runtime_gets_new_tables(role_db):
    url, roles = role_db
    with psycopg.connect(libpq_url(as_role(url, roles.migrator)), autocommit=True) as conn:
        conn.execute("create table airtable.added_later (x int)")
    with psycopg.connect(libpq_url(as_role(url, roles.runtime))) as conn:
        conn.execute("insert into airtable.added_later values (1)")  # default privileges reached it


def test_runtime_role_learns_only_the_applied_revisions_and_passes_the_migration_check(role_db):
    url, roles = role_db
    runtime = as_role(url, roles.runtime)
    assert at_code_heads(script_directory(DEMO_VERSIONS), database_revisions(runtime))
    require_migrated(runtime, DEMO_VERSIONS)  # what every runtime entry point does first


def test_migrator_can_create_alter_and_drop(role_db):
    url, roles = role_db
    with psycopg.connect(libpq_url(as_role(url, roles.migrator)), autocommit=True) as conn:
        conn.execute("create table airtable_sync.migrator_scratch (x int)")
        conn.execute("alter table airtable_sync.migrator_scratch add column y text")
        conn.execute("drop table airtable_sync.migrator_scratch")
        # the migrator reads the version table (one row per branch head; Alembic folds a head another depends on)
        assert conn.execute("select count(*) from public.alembic_version_airtable_pg").fetchone()[0] >= 1


def test_dagster_role_initialises_and_uses_its_own_storage(role_db, tmp_path: Path):
    url, roles = role_db
    # DAGSTER_PG_URL as docs/deployment.md gives it: dagster-postgres over psycopg2, as the Dagster role
    storage_url = as_role(url, roles.dagster, database=roles.dagster_database, driver="postgresql+psycopg2")
    store_a_run(storage_url, tmp_path / "dagster_home")
    with psycopg.connect(libpq_url(as_role(url, roles.dagster, database=roles.dagster_database))) as conn:
        owners = conn.execute("select distinct tableowner from pg_tables where schemaname = 'public'").fetchall()
    assert owners == [(roles.dagster,)]  # Dagster's tables are its role's: its own upgrades can migrate them


@pytest.mark.parametrize("role", ["test_runtime", "test_migrator"])
def test_the_mirror_roles_cannot_even_connect_to_dagsters_database(role_db, role):
    url, roles = role_db
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(libpq_url(as_role(url, role, database=roles.dagster_database))).close()


@pytest.mark.parametrize(
    "statement",
    [
        "select * from airtable.users",
        "insert into airtable_sync.rate_limit (base_id) values ('appDagsterRole001')",
        "create table airtable.sneaky (x int)",
        "create table public.sneaky (x int)",
        "drop table airtable_sync.change_event",
        "select * from public.alembic_version_airtable_pg",
    ],
)
def test_dagster_role_can_neither_read_nor_change_the_mirror(role_db, statement):
    url, roles = role_db
    with (
        psycopg.connect(libpq_url(as_role(url, roles.dagster))) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def test_db_roles_hands_an_existing_dagster_database_over(role_db, new_database):
    # what `airtable-pg dev` or the hand-written SQL of earlier releases left: a database and tables owned by another
    url, roles = role_db
    existing = new_database("dagster_existing")
    with psycopg.connect(libpq_url(existing), autocommit=True) as conn:
        conn.execute("create table runs (id bigserial primary key, body text)")
        conn.execute("create view run_ids as select id from runs")
    name = make_url(sqlalchemy_url(existing)).database
    again = Roles(migrator=roles.migrator, runtime=roles.runtime, dagster=roles.dagster, dagster_database=name)
    for _ in range(2):  # idempotent: the second run changes nothing and does not fail
        setup_roles(url, schemas(load_spec()), again, load_settings(ROLE_ENVIRONMENT))
    with psycopg.connect(libpq_url(as_role(url, roles.dagster, database=name)), autocommit=True) as conn:
        conn.execute("alter table runs add column finished boolean")  # only an owner may
        conn.execute("insert into runs (body) values ('{}')")
        conn.execute("drop view run_ids")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(libpq_url(as_role(url, roles.runtime, database=name))).close()
