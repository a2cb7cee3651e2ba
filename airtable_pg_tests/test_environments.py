"""One switch (``--env staging`` / ``AIRTABLE_PG_ENV``) selects the environment's databases; nothing else changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy.engine import make_url

from airtable_pg import cli
from airtable_pg.definitions import build_definitions
from airtable_pg.defs.assets import build_table_assets
from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, upgrade
from airtable_pg.postgres.revisions import at_code_heads, database_revisions, script_directory
from airtable_pg.settings import ConfigError, load_settings
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import mirror_rows
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
# Trust authentication on the embedded server ignores passwords: any URL password works, and must never show.
STAGING_PASSWORD = "stagingPw-7f3e91"
MIGRATION_PASSWORD = "migratorPw-1c5a02"
NOWHERE = "postgresql://nobody:productionPw-55e1@127.0.0.1:9/not_this_one"


def with_password(url: str, password: str) -> str:
    rendered = make_url(sqlalchemy_url(url)).set(password=password).render_as_string(hide_password=False)
    return rendered.replace("postgresql+psycopg://", "postgresql://", 1)


def test_production_is_the_default_and_staging_selects_the_staging_urls():
    env = {
        "DATABASE_URL": "postgresql://app@prod/db",
        "DATABASE_MIGRATION_URL": "postgresql://migrator@prod/db",
        "DATABASE_URL_STAGING": "postgresql://app@staging/db",
        "DATABASE_MIGRATION_URL_STAGING": "postgresql://migrator@staging/db",
        "AIRTABLE_PG_RATE_LIMIT": "3",
    }
    production, staging = load_settings(env), load_settings({**env, "AIRTABLE_PG_ENV": "staging"})
    assert production.environment == "production" and staging.environment == "staging"
    assert production.selected_database_url.get_secret_value() == "postgresql://app@prod/db"
    assert production.migration_database_url.get_secret_value() == "postgresql://migrator@prod/db"
    assert staging.selected_database_url.get_secret_value() == "postgresql://app@staging/db"
    assert staging.migration_database_url.get_secret_value() == "postgresql://migrator@staging/db"
    assert (production.database_variable, staging.database_variable) == ("DATABASE_URL", "DATABASE_URL_STAGING")
    # Nothing else differs between them.
    same = {"environment", "database_url", "database_url_staging", "database_migration_url"}
    assert production.model_dump(exclude=same | {"database_migration_url_staging"}) == staging.model_dump(
        exclude=same | {"database_migration_url_staging"}
    )
    # Without a migration URL, Alembic uses the runtime URL of the same environment.
    only_runtime = load_settings({"DATABASE_URL_STAGING": "postgresql://app@staging/db", "AIRTABLE_PG_ENV": "staging"})
    assert only_runtime.migration_database_url.get_secret_value() == "postgresql://app@staging/db"


def test_staging_without_its_database_is_refused_never_falling_back(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_URL_STAGING is not set"):
        load_settings({"AIRTABLE_PG_ENV": "staging", "DATABASE_URL": "postgresql://app@prod/db"})
    with pytest.raises(ConfigError, match="AIRTABLE_PG_ENV"):
        load_settings({"AIRTABLE_PG_ENV": "prod"})


def test_an_unknown_env_option_is_a_usage_error(capsys):
    assert cli.main(["--env", "qa", "config"]) == 2
    assert "--env must be one of production, staging" in capsys.readouterr().err
    assert cli.main(["config", "--env", "qa"]) == 2  # after the command too
    assert "--env must be one of production, staging" in capsys.readouterr().err
    assert cli.main(["config", "--env"]) == 2
    assert "--env needs a value" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--env", "staging", "--debug", "db", "current"],
        ["db", "current", "--env", "staging", "--debug"],
        ["db", "--env=staging", "current", "--debug"],
    ],
)
def test_global_options_work_before_and_after_the_command(argv: list[str]):
    assert cli.take_global_options(argv) == (["db", "current"], "staging", True)


def test_arguments_after_a_double_dash_are_left_as_typed():
    assert cli.take_global_options(["sync", "--", "--env", "x"]) == (["sync", "--", "--env", "x"], None, False)


@pytest.fixture
def staging(new_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch, tmp_path) -> str:
    """Production points nowhere; staging has a database (runtime and migration URLs with distinct passwords)."""
    url = new_database("staging")
    monkeypatch.setenv("AIRTABLE_PG_ENV", "production")  # restored to unset afterwards: `--env` sets it
    monkeypatch.setenv("DATABASE_URL", NOWHERE)
    monkeypatch.setenv("DATABASE_URL_STAGING", with_password(url, STAGING_PASSWORD))
    monkeypatch.setenv("DATABASE_MIGRATION_URL_STAGING", with_password(url, MIGRATION_PASSWORD))
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    return url


def test_env_staging_migrates_with_the_migration_url_and_every_command_says_where(staging: str, capsys, monkeypatch):
    # The runtime URL of staging names a database that does not exist: only the migration URL can migrate it.
    monkeypatch.setenv("DATABASE_URL_STAGING", with_password(staging + "_missing", STAGING_PASSWORD))
    assert cli.main(["--env", "staging", "db", "upgrade"]) == 0
    err = capsys.readouterr().err
    assert "airtable-pg db: environment staging: migration database postgresql://postgres:***@/" in err
    assert at_code_heads(script_directory(DEMO_VERSIONS), database_revisions(staging))
    assert MIGRATION_PASSWORD not in err and STAGING_PASSWORD not in err
    # As users type it too: the option after the subcommand reaches the same database.
    monkeypatch.setenv("AIRTABLE_PG_ENV", "production")
    assert cli.main(["db", "current", "--env", "staging"]) == 0
    err = capsys.readouterr().err
    assert "airtable-pg db: environment staging: migration database postgresql://postgres:***@/" in err


def test_env_staging_selects_the_runtime_database_for_runtime_commands(staging: str, capsys, monkeypatch):
    upgrade(alembic_config(staging, versions=DEMO_VERSIONS))
    assert cli.main(["--env", "staging", "cutover", "status"]) == 1  # reached staging: no gate has passed yet
    captured = capsys.readouterr()
    line = next(x for x in captured.err.splitlines() if "environment" in x)
    assert line.startswith("airtable-pg cutover: environment staging: runtime database postgresql://postgres:***@/")
    assert "staging_" in line and STAGING_PASSWORD not in captured.err + captured.out
    # The variable does the same as the option; production (the default) would go to DATABASE_URL.
    monkeypatch.setenv("AIRTABLE_PG_ENV", "staging")
    assert cli.main(["cutover", "status"]) == 1
    monkeypatch.setenv("AIRTABLE_PG_ENV", "production")
    assert cli.main(["cutover", "status"]) == 1
    err = capsys.readouterr().err
    assert "environment production: runtime database postgresql://nobody:***@127.0.0.1:9/not_this_one" in err
    assert "cannot reach the database" in err and "productionPw" not in err


def test_the_code_location_binds_the_staging_database(staging: str, sandbox: Sandbox, monkeypatch):
    upgrade(alembic_config(staging, versions=DEMO_VERSIONS))
    monkeypatch.setenv("AIRTABLE_PG_ENV", "staging")
    monkeypatch.setenv("AIRTABLE_API_KEY", sandbox.token)
    monkeypatch.setenv("AIRTABLE_API_URL", sandbox.url)
    defs = build_definitions(SPEC)
    programs = next(a for a in build_table_assets(SPEC) if a.key.path[-1] == "programs")
    result = materialize([programs], resources=defs.resources, instance=DagsterInstance.ephemeral())
    assert result.success
    base = SPEC.bases["coaching"]
    assert mirror_rows(staging, base, base.tables["programs"])
