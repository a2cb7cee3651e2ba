"""The runtime role writes rows but cannot change the schema; the migrator role can migrate."""

from __future__ import annotations

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

PASSWORDS = {"test_migrator": "migrator-secret", "test_runtime": "runtime-secret"}


def as_role(url: str, role: str) -> str:
    return (
        make_url(sqlalchemy_url(url))
        .set(username=role, password=PASSWORDS[role])
        .render_as_string(hide_password=False)
        .replace("postgresql+psycopg://", "postgresql://", 1)
    )


@pytest.fixture(scope="module")
def role_db(new_database):
    url = new_database("roles")
    roles = Roles(migrator="test_migrator", runtime="test_runtime")
    # passwords only ever come from the environment
    env = {
        "AIRTABLE_PG_MIGRATOR_PASSWORD": PASSWORDS["test_migrator"],
        "AIRTABLE_PG_RUNTIME_PASSWORD": PASSWORDS["test_runtime"],
    }
    setup_roles(url, schemas(load_spec()), roles, load_settings(env))  # before any migration: the migrator creates all
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
