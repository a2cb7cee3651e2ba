"""`airtable-pg config` shows the value in effect of every setting and where it came from; every leaf `--help`
describes the command and each option, with its default."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airtable_pg import cli
from airtable_pg.cli.parsing import leaf_parsers
from airtable_pg.spec import default_spec_path

UNSET = ("AIRTABLE_PG_SPEC", "DAGSTER_HOME", "DAGSTER_PG_URL", "DATABASE_URL", "AIRTABLE_API_URL", "AIRTABLE_API_KEY")


def config_lines(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert cli.main(["config"]) == 0
    return {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}


def test_config_shows_values_in_effect_and_their_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    monkeypatch.setenv("AIRTABLE_PG_RATE_LIMIT", "4")
    lines = config_lines(capsys)
    assert "(not set)" not in lines["AIRTABLE_PG_SPEC"] and default_spec_path() in lines["AIRTABLE_PG_SPEC"]
    assert lines["AIRTABLE_PG_SPEC"].endswith("[default]")
    assert "dagster_home" in lines["DAGSTER_HOME"] and str(tmp_path / "pgdata") in lines["DATABASE_URL"]
    assert lines["AIRTABLE_PG_RATE_LIMIT"].split()[1] == "4.0" and lines["AIRTABLE_PG_RATE_LIMIT"].endswith(
        "[environment]"
    )

    # Beside a running `airtable-pg dev`: the database and sandbox come from its dev.json, and Dagster's storage
    # URL is the one dev gives its children (password masked).
    stack = {"pid": os.getpid(), "database_url": "postgresql://dev:s3cret-pw@127.0.0.1:5433/airtable_pg",
             "airtable_api_url": "http://127.0.0.1:8830", "airtable_api_key": "patSandboxDevToken.local"}  # fmt: skip
    (tmp_path / "dev.json").write_text(json.dumps(stack), encoding="utf-8")
    lines = config_lines(capsys)
    assert f"[dev stack ({tmp_path / 'dev.json'})]" in lines["DATABASE_URL"]
    assert "http://127.0.0.1:8830" in lines["AIRTABLE_API_URL"] and "dev stack" in lines["AIRTABLE_API_URL"]
    assert "//dev:***@127.0.0.1:5433/dagster" in lines["DAGSTER_PG_URL"]
    assert "s3cret-pw" not in "".join(lines.values()) and "patSandboxDevToken" not in "".join(lines.values())


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_leaf_help_describes_the_command_and_each_option(name: str) -> None:
    for prog, parser in leaf_parsers(cli.build_parser(name)).items():
        assert parser.description, f"{prog}: no description"
        for action in parser._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{prog} {'/'.join(action.option_strings) or action.dest}: no help"
            text = parser._get_formatter()._expand_help(action) if action.help else ""
            meaningful = action.default not in (None, False, [], "==SUPPRESS==")
            if meaningful:
                assert "default" in text, f"{prog} {action.option_strings or action.dest}: default not shown"
