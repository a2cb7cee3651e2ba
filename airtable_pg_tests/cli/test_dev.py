"""`airtable-pg dev`'s pieces that need no running server (the whole command runs in test_e2e_ui.py)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from dagster._core.instance.config import dagster_instance_config
from sqlalchemy.engine import make_url

from airtable_pg.cli.dev import (
    Airtable,
    child_environment,
    dagster_storage_url,
    prepare_dagster_home,
    project_root,
    summary,
)
from airtable_pg.defs.instance_config import check_instance_config
from airtable_pg.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
ARGS = argparse.Namespace(host="127.0.0.1", port=3000, records=100)


def test_shipped_dagster_yaml_is_a_valid_postgres_backed_instance(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://postgres@localhost/dagster")
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] > 0
    assert config["run_monitoring"]["enabled"] is True
    assert config["telemetry"]["enabled"] is False


def test_outside_the_checkout_dev_finds_the_checkouts_workspace(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no workspace.yaml here: the fallback is the checkout holding the package
    assert project_root() == REPO


def test_the_shipped_dagster_yaml_meets_airtable_pgs_requirements_and_a_bare_one_is_named(tmp_path: Path, caplog):
    assert check_instance_config(REPO / "dagster_home") == []
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    lines = check_instance_config(tmp_path)
    assert len(lines) == 3 and all(line.startswith(f"airtable_pg: {tmp_path / 'dagster.yaml'}: ") for line in lines)
    assert "QueuedRunCoordinator" in lines[0] and "max_concurrent_runs" in lines[1] and "dagster/backfill" in lines[2]
    assert [record.getMessage() for record in caplog.records if record.name == "airtable_pg"] == lines


def test_dagster_storage_is_the_dagster_database_through_psycopg2():
    url = dagster_storage_url("postgresql://app:s3cret@db.internal:5433/mirror?sslmode=verify-full")
    parsed = make_url(url)
    assert parsed.drivername == "postgresql+psycopg2"
    assert (parsed.database, parsed.host, parsed.port, parsed.password) == ("dagster", "db.internal", 5433, "s3cret")
    assert parsed.query["sslmode"] == "verify-full"


def test_summary_never_shows_a_real_api_key_or_a_database_password():
    real = Airtable(api_url="https://api.airtable.com", api_key="patREAL.secretvalue", sandbox=False)
    text = summary(
        ARGS, load_settings({}), database="postgresql://app:s3cret@db/mirror", dagster_home=Path("/h"), airtable=real
    )
    assert "patREAL" not in text and "s3cret" not in text
    assert "http://127.0.0.1:3000" in text and "https://api.airtable.com" in text


def test_summary_gives_a_working_psql_command_for_the_passwordless_embedded_server():
    sandbox = Airtable(api_url="http://127.0.0.1:8787", api_key="patSandboxDevToken.local", sandbox=True)
    embedded = "postgresql://postgres:@/postgres?host=%2Fhome%2Fme%2F.airtable_pg%2Fpgdata"
    text = summary(ARGS, load_settings({}), database=embedded, dagster_home=Path("/h"), airtable=sandbox)
    assert f"psql '{embedded}'" in text
    assert "sandbox at http://127.0.0.1:8787" in text


def test_children_get_every_setting_they_need():
    sandbox = Airtable(api_url="http://127.0.0.1:8787", api_key="patSandboxDevToken.local", sandbox=True)
    env = child_environment(
        {"PATH": "/bin", "DATABASE_URL": "stale"},
        dagster_home=Path("/h"),
        database="postgresql://a@b/c",
        dagster_database="postgresql+psycopg2://a@b/dagster",
        airtable=sandbox,
    )
    assert env == {
        "PATH": "/bin",
        "DAGSTER_HOME": "/h",
        "DATABASE_URL": "postgresql://a@b/c",
        "DAGSTER_PG_URL": "postgresql+psycopg2://a@b/dagster",
        "AIRTABLE_API_KEY": "patSandboxDevToken.local",
        "AIRTABLE_API_URL": "http://127.0.0.1:8787",
    }


def test_a_users_dagster_home_gets_our_instance_config_only_when_it_has_none(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "fresh"))
    home = prepare_dagster_home(REPO, load_settings())
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster_home" / "dagster.yaml").read_text()

    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "own"))
    assert (prepare_dagster_home(REPO, load_settings()) / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"

    monkeypatch.delenv("DAGSTER_HOME")
    assert prepare_dagster_home(REPO, load_settings()) == REPO / "dagster_home"
