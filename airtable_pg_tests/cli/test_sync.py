"""`airtable-pg sync`: summary on success, one-line reasons and exit codes on failure, never a secret."""

from __future__ import annotations

import pytest

from airtable_pg import cli
from airtable_pg.cli.sync import main as run
from airtable_pg.sandbox.server import Sandbox
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import mirror_rows

COACHING = load_spec().bases["coaching"]
WRONG_KEY = "patWrongToken.SuperSecretValue42"


def environment(sandbox: Sandbox, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "AIRTABLE_API_KEY": sandbox.token,
        "AIRTABLE_API_URL": sandbox.url,
        "DATABASE_URL": database_url,
        "AIRTABLE_PG_RATE_LIMIT": "50",
    }
    return env | extra


def test_full_sync_of_chosen_tables_prints_a_summary(
    sandbox: Sandbox, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment(sandbox, database_url).items():
        monkeypatch.setenv(name, value)
    code = cli.main(["sync", "--full", "--table", "users", "--table", "coaching.methods", "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "coaching.users" in out and "coaching.methods" in out and "coaching.programs" not in out
    users = mirror_rows(database_url, COACHING, COACHING.tables["users"])
    assert users and str(len(users)) in out


def test_incremental_without_watermark_says_it_ran_a_full_sync(
    sandbox: Sandbox, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["--incremental", "--table", "programs"], env=environment(sandbox, database_url))
    assert code == 0
    assert "coaching.programs: no watermark yet" in capsys.readouterr().out
    code = run(["--incremental", "--table", "programs"], env=environment(sandbox, database_url))
    out = capsys.readouterr().out
    assert code == 0 and "incremental" in out and "no watermark" not in out


def test_a_rejected_token_fails_with_one_line_per_table_and_no_secret(
    sandbox: Sandbox, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environment(sandbox, database_url, AIRTABLE_API_KEY=WRONG_KEY)
    code = run(["--full", "--table", "users", "--table", "methods"], env=env)
    captured = capsys.readouterr()
    assert code == 1
    failures = [line for line in captured.err.splitlines() if " failed: " in line]
    assert len(failures) == 2 and all("401" in line for line in failures)
    assert WRONG_KEY not in captured.err + captured.out
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("argv", "extra", "message"),
    [
        (["--full"], {"AIRTABLE_API_KEY": ""}, "AIRTABLE_API_KEY is not set"),
        (["--full", "--table", "nope"], {}, "'nope' matches no table"),
        (["--full"], {"AIRTABLE_PG_RATE_LIMIT": "fast"}, "AIRTABLE_PG_RATE_LIMIT must be a number"),
        (["--full"], {"AIRTABLE_PG_SPEC": "/nonexistent/spec.yaml"}, "file not found"),
    ],
)
def test_configuration_errors_exit_2_with_a_reason(
    sandbox: Sandbox, database_url: str, capsys: pytest.CaptureFixture[str], argv, extra, message
) -> None:
    assert run(argv, env=environment(sandbox, database_url, **extra)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sandbox.token not in err


def test_a_mode_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["--table", "users"], env={})
    assert exit_info.value.code == 2
    assert "--full" in capsys.readouterr().err
