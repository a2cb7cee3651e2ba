"""The CLI and the Dagster resources read the same rate settings, so every process paces a base alike."""

from __future__ import annotations

import pytest

from airtable_pg.airtable.client import AirtableConfig
from airtable_pg.defs.resources import runtime_resource
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg.settings import ConfigError, Settings, load_settings
from airtable_pg.spec import load_spec
from airtable_pg.sync.engine import SyncEngine


def airtable_resource_from_env() -> Settings:
    """The settings a run builds its runtime from: the resource as the code location binds it, resolved by Dagster."""
    return runtime_resource(DEMO_VERSIONS, load_settings()).process_config_and_initialize().load_settings()


def airtable_config(env):
    return AirtableConfig.from_settings(load_settings(env))


def test_cli_and_dagster_take_the_rate_limit_from_the_same_variables(monkeypatch):
    monkeypatch.setenv("AIRTABLE_PG_RATE_LIMIT", "2.5")
    monkeypatch.setenv("AIRTABLE_PG_PENALTY_SECONDS", "0")
    monkeypatch.setenv("AIRTABLE_PG_RATE_MARGIN_MS", "25")
    monkeypatch.setenv("AIRTABLE_API_KEY", "patX")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@/unused")
    resource = airtable_resource_from_env()
    cli = airtable_config(
        {
            "AIRTABLE_API_KEY": "patX",
            "AIRTABLE_PG_RATE_LIMIT": "2.5",
            "AIRTABLE_PG_PENALTY_SECONDS": "0",
            "AIRTABLE_PG_RATE_MARGIN_MS": "25",
        }
    )
    assert (resource.requests_per_second, resource.penalty_seconds) == (2.5, 0.0)
    assert AirtableConfig.from_settings(resource).rate_margin_seconds == pytest.approx(0.025)
    assert (cli.requests_per_second, cli.penalty_seconds) == (2.5, 0.0)
    # the engine paces requests with exactly that spacing
    with SyncEngine(load_spec(), "postgresql://nobody@/unused", cli, workers=1) as engine:
        assert engine.limiter.spacing == pytest.approx(1 / 2.5 + 0.025)


@pytest.mark.parametrize("value", ["fast", "0", "-1"])
def test_a_bad_rate_limit_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("AIRTABLE_PG_RATE_LIMIT", value)
    with pytest.raises(ConfigError, match="AIRTABLE_PG_RATE_LIMIT"):
        airtable_resource_from_env()


def test_the_readme_configuration_table_is_the_settings_table():
    from pathlib import Path

    from airtable_pg.settings import configuration_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert configuration_table() in readme, "README's table drifted: paste `airtable-pg config --markdown`"


def test_a_secret_is_never_repeated_in_a_settings_error():
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": "postgresql://u:hunter2secret@h/db", "AIRTABLE_PG_WORKERS": "0"})
    assert "hunter2secret" not in str(caught.value) and "AIRTABLE_PG_WORKERS" in str(caught.value)


def test_a_running_dev_stack_fills_in_what_the_environment_leaves_unset(tmp_path):
    import json
    import os

    (tmp_path / "dev.json").write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "database_url": "postgresql://postgres@/postgres?host=/tmp/x",
                "airtable_api_url": "http://127.0.0.1:9999",
                "airtable_api_key": "patSandboxDevToken.local",
            }
        )
    )
    settings = load_settings({"AIRTABLE_PG_HOME": str(tmp_path)})
    assert settings.airtable_api_url == "http://127.0.0.1:9999" and settings.dev_stack == tmp_path / "dev.json"
    assert settings.require_api_key() == "patSandboxDevToken.local"
    # a choice in the environment wins, and the stack is not mixed in
    chosen = load_settings({"AIRTABLE_PG_HOME": str(tmp_path), "DATABASE_URL": "postgresql://me@db/app"})
    assert chosen.dev_stack is None and chosen.airtable_api_key is None
    # a stack whose process is gone is ignored
    (tmp_path / "dev.json").write_text(json.dumps({"pid": 2**22 + 12345, "airtable_api_url": "http://x"}))
    assert load_settings({"AIRTABLE_PG_HOME": str(tmp_path)}).dev_stack is None


def test_a_database_url_that_is_not_postgres_is_a_configuration_error_without_its_password():
    with pytest.raises(ConfigError, match="DATABASE_URL must be a postgresql:// URL") as caught:
        load_settings({"DATABASE_URL": "mysql://app:secretpw@db/app"})
    assert "secretpw" not in str(caught.value)
