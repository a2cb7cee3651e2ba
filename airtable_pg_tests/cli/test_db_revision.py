"""`airtable-pg db revision`: nothing written when nothing changed (unless --empty), and only into the user's
directory (AIRTABLE_PG_MIGRATIONS), never into the installed package."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airtable_pg import cli
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg_tests.test_spec import demo_raw

NICKNAME = {"name": "Nickname", "type": "singleLineText", "column": "nickname", "pg_type": "text"}


@pytest.fixture
def own_spec(tmp_path: Path, migrated_database, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    """A user's spec, migrated from their own migrations directory, and the environment naming both."""
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(demo_raw(), allow_unicode=True), encoding="utf-8")
    url = migrated_database(spec_path)
    versions = migrated_database.scripts[url]
    for name, value in {
        "DATABASE_URL": url,
        "AIRTABLE_PG_SPEC": str(spec_path),
        "AIRTABLE_PG_MIGRATIONS": str(versions),
        "AIRTABLE_PG_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(name, value)
    return spec_path, versions, url


def test_nothing_changed_writes_nothing_and_the_runtime_keeps_running(own_spec, capsys) -> None:
    _, versions, _ = own_spec
    before = sorted(versions.glob("*.py"))
    assert cli.main(["db", "revision", "-m", "nothing changed"]) == 0
    assert "no revision written" in capsys.readouterr().out
    assert sorted(versions.glob("*.py")) == before
    assert cli.main(["status"]) == 0  # no new head the database lacks: the runtime does not refuse


def test_empty_writes_one_when_asked(own_spec, capsys) -> None:
    _, versions, _ = own_spec
    before = set(versions.glob("*.py"))
    assert cli.main(["db", "revision", "--empty", "-m", "placeholder"]) == 0
    (written,) = set(versions.glob("*.py")) - before
    assert written.name.endswith("_placeholder.py") and f"wrote {written}" in capsys.readouterr().out


def test_a_spec_change_is_written_into_the_users_directory(own_spec, capsys) -> None:
    spec_path, versions, _ = own_spec
    raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    raw["bases"]["coaching"]["tables"]["users"]["fields"]["fldUsrNickname001"] = NICKNAME
    spec_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    before = set(versions.glob("*.py"))
    assert cli.main(["db", "revision", "-m", "nickname"]) == 0
    (written,) = set(versions.glob("*.py")) - before
    assert "op.add_column('users', sa.Column('nickname'" in written.read_text(encoding="utf-8")
    assert cli.main(["status"]) == 2  # the runtime now refuses until the upgrade …
    assert cli.main(["db", "upgrade"]) == 0
    assert cli.main(["db", "check"]) == 0  # … which covers the change


def test_without_a_migrations_directory_it_refuses_and_says_how_to_set_one(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    monkeypatch.delenv("AIRTABLE_PG_MIGRATIONS", raising=False)
    monkeypatch.delenv("AIRTABLE_PG_SPEC", raising=False)
    shipped = sorted(DEMO_VERSIONS.iterdir())
    assert cli.main(["db", "revision", "--empty", "-m", "into the package"]) == 2
    assert "set AIRTABLE_PG_MIGRATIONS" in capsys.readouterr().err
    assert sorted(DEMO_VERSIONS.iterdir()) == shipped
