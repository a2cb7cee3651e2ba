"""`airtable-pg sync`: summary on success, one-line reasons and exit codes on failure, never a secret."""

from __future__ import annotations

import pytest

from airtable_pg import cli
from airtable_pg.cli.sync import main as run
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import mirror_rows
from airtable_pg_tests.waiting import wait_until
from airtable_sandbox.server import Sandbox

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


def test_sigterm_stops_a_sync_like_ctrl_c_marks_it_failed_and_tombstones_nothing(
    sandbox_factory, database_url: str
) -> None:
    import os
    import signal
    import subprocess
    import sys

    import psycopg

    from airtable_pg.postgres.database import libpq_url

    # ~800 goals in 8 pages of 2 s each: the SIGTERM must land mid-scan even when this process, polling for the first
    # page at load 11, notices it seconds late (at 400 ms a page the scan could finish first).
    slow = sandbox_factory(demo_records=2000, latency_ms=2000)
    env = {**os.environ, **environment(slow, database_url)}
    process = subprocess.Popen(
        [sys.executable, "-m", "airtable_pg", "sync", "--full", "--table", "personal_goals", "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def runs() -> list[tuple[str, str | None]]:
        with psycopg.connect(libpq_url(database_url)) as conn:
            return conn.execute("select status, error from airtable_sync.sync_run").fetchall()

    def goals_written() -> int:
        with psycopg.connect(libpq_url(database_url)) as conn:
            return conn.execute("select count(*) from airtable.personal_goals").fetchone()[0]

    # Deadlines, not durations: a process starting beside two other suites at load 11 took longer than 30 s.
    wait_until(goals_written, timeout=180, what="the scan's first page in the mirror")  # under way, far from done
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, f"the sync ended {process.returncode} before or despite SIGTERM: {err[-2000:]}"
    assert "terminated: running syncs were cancelled (nothing was tombstoned)" in err and "Traceback" not in err
    assert [status for status, _ in runs()] == ["failed"]
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("select count(*) from airtable.personal_goals where deleted_at is not null").fetchone() == (
            0,
        )
