"""Every shell command of README.md and docs/*.md works as printed.

* Each ``airtable-pg`` command parses with the CLI's own argument parser (``cli.build_parser``), and each ``make``
  target exists and runs an ``airtable-pg`` command line that parses too: no placeholders (``<…>``, ``[--x …]``)
  in a copyable block, no unquoted text that splits into stray arguments.
* A document that prints bare ``airtable-pg`` says how the command gets on ``PATH``.
* The commands that make sense beside a running stack run against one (the sandbox, a migrated database, a first
  import and a hook) through the real CLI, and exit as the docs say. A doc edit that breaks one fails here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from airtable_pg import cli
from airtable_pg.postgres.database import libpq_url
from airtable_pg_tests.doc_commands import ROOT, DocCommand, blocks, doc_commands
from airtable_sandbox.server import Sandbox

COMMANDS = doc_commands()
ON_PATH = "source .venv/bin/activate"

# Commands run beside the stack, by their command words; the rest only parse: they serve in the foreground
# (dev, sandbox, receiver, --follow), change what other commands rely on (db downgrade / revision / roles, webhooks
# ensure / delete with the docs' example URL), need a real Airtable's base id, or name letters ids of another run.
RUNS = {
    ("sync",), ("status",), ("config",), ("authority", "show"), ("cutover", "status"), ("checks", "run"),
    ("webhooks", "list"), ("webhooks", "apply"), ("webhooks", "refresh"), ("outbound", "run"), ("outbound", "status"),
    ("dlq", "list"), ("db", "upgrade"), ("db", "check"), ("db", "current"), ("db", "url"), ("spec", "check"),
    ("flags", "show"), ("flags", "set"), ("flags", "history"), ("shadow", "report"),
}  # fmt: skip
# Exit codes other than 0 the docs give for a healthy stack (none today: a stack after its first import and a
# `checks run` is ready on every gate).
EXPECTED_EXIT: dict[tuple[str, ...], int] = {}


def ids(commands: list[DocCommand]) -> list[str]:
    return [f"{c.path.name}:{c.line}:{' '.join(c.args[:3])}" for c in commands]


def split(command: DocCommand) -> tuple[str, list[str]]:
    """The subcommand and its arguments, after the global options (``--debug``, ``--env``)."""
    rest, _, _ = cli.take_global_options(command.args)
    return rest[0], rest[1:]


def parse(name: str, args: list[str]) -> argparse.Namespace:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return cli.build_parser(name).parse_args(args)
    except SystemExit as exit_:
        raise AssertionError(f"airtable-pg {name} {shlex.join(args)}: exit {exit_.code}: {err.getvalue()}") from None


def words(name: str, args: list[str]) -> tuple[str, ...]:
    namespace = parse(name, args)
    action = getattr(namespace, "action", None)
    return (name, action) if action else (name,)


@pytest.mark.parametrize("command", COMMANDS, ids=ids(COMMANDS))
def test_each_documented_command_parses_as_printed(command: DocCommand) -> None:
    assert not any(a.startswith("<") or a.startswith("[") for a in command.args), f"placeholder in {command.where}"
    if command.program == "make":
        printed = subprocess.run(
            ["make", "-n", *command.args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        assert printed.returncode == 0, f"{command.where}: {printed.stderr}"
        runs = [shlex.split(line) for line in printed.stdout.splitlines() if "/airtable-pg " in line]
        assert runs or command.args[0] != "dev", f"{command.where}: make dev runs no airtable-pg"
        for run in runs:
            name, args = run[1], run[2:]
            parse(name, args)
        return
    name, args = split(command)
    assert name in cli.COMMANDS, f"{command.where}: no command {name!r}"
    parse(name, args)


def test_make_dev_takes_the_ports() -> None:
    printed = subprocess.run(
        ["make", "-n", "dev", "ARGS=--port 3130 --sandbox-port 8830 --receiver-port 8831"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    (line,) = [line for line in printed.stdout.splitlines() if "airtable-pg dev" in line]
    namespace = parse("dev", shlex.split(line)[2:])
    assert (namespace.port, namespace.sandbox_port, namespace.receiver_port) == (3130, 8830, 8831)


def test_a_document_with_bare_commands_says_how_they_get_on_path() -> None:
    bare = {c.path for c in COMMANDS if c.program == "airtable-pg"}
    missing = [p.relative_to(ROOT) for p in bare if ON_PATH not in p.read_text(encoding="utf-8")]
    assert not missing, f"bare `airtable-pg` without saying `{ON_PATH}`: {missing}"


# ------------------------------------------------------------------------------------------------ beside a stack


def runnable() -> list[DocCommand]:
    picked = []
    for command in COMMANDS:
        if not command.is_airtable_pg or command.env or "--env" in command.args:
            continue  # another environment's database or Airtable (production, staging examples)
        name, args = split(command)
        try:
            runs = words(name, args) in RUNS and "--follow" not in args
        except AssertionError:
            continue  # does not parse: the test above fails for it
        if runs:
            picked.append(command)
    return picked


RUNNABLE = runnable()


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory, new_database) -> Iterator[dict[str, str]]:
    """What `make dev` leaves for a second terminal: a sandbox, a migrated database, a hook, a first import, and
    its ``dev.json`` in ``AIRTABLE_PG_HOME``, through which commands find the stack (the environment names neither
    a database nor an Airtable, as in a fresh terminal)."""
    from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, upgrade

    sandbox = Sandbox("patSandboxDocs.0123456789abcdef", rate_limit_per_second=None)
    sandbox.load_demo(200, seed=42)
    sandbox.start()
    url = new_database("docs")
    upgrade(alembic_config(url, versions=DEMO_VERSIONS))
    home = tmp_path_factory.mktemp("home")
    stack = {
        "pid": os.getpid(),
        "database_url": url,
        "airtable_api_url": sandbox.url,
        "airtable_api_key": sandbox.token,
    }
    (home / "dev.json").write_text(json.dumps(stack), encoding="utf-8")
    env = {"AIRTABLE_PG_HOME": str(home), "AIRTABLE_PG_RATE_LIMIT": "50"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        for name in ("DATABASE_URL", "AIRTABLE_API_KEY", "AIRTABLE_API_URL", "AIRTABLE_PG_SPEC",
                     "AIRTABLE_PG_MIGRATIONS", "DAGSTER_HOME", "AIRTABLE_PG_ENV"):  # fmt: skip
            patch.delenv(name, raising=False)
        assert cli.main(["webhooks", "ensure"]) == 0  # the hook, then each table from its watermark: the import
        assert cli.main(["checks", "run"]) == 0  # the gates' first results, as make dev's import leaves them
        yield env | {"DATABASE_URL_OF_STACK": url}
    sandbox.stop()


def use_stack(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in stack_env.items():
        if name != "DATABASE_URL_OF_STACK":
            monkeypatch.setenv(name, value)
    for name in ("DATABASE_URL", "AIRTABLE_API_KEY", "AIRTABLE_API_URL", "AIRTABLE_PG_SPEC", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("command", RUNNABLE, ids=ids(RUNNABLE))
def test_each_documented_command_runs_beside_a_stack(
    command: DocCommand, stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_stack(stack_env, monkeypatch)
    name, args = split(command)
    code = cli.main(command.args)
    assert code == EXPECTED_EXIT.get(words(name, args), 0), command.where


def sql_statements(path: Path) -> list[str]:
    return ["\n".join(lines) for language, _, lines in blocks(path) if language == "sql"]


def test_the_outbound_insert_of_the_docs_reaches_airtable(
    stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_stack(stack_env, monkeypatch)
    (statement,) = sql_statements(ROOT / "docs" / "outbound.md")
    with psycopg.connect(libpq_url(stack_env["DATABASE_URL_OF_STACK"]), autocommit=True) as conn:
        ((row_id, airtable_id),) = conn.execute(statement).fetchall()  # as the app runs it
    assert airtable_id is None
    capsys.readouterr()
    assert cli.main(["outbound", "run"]) == 0
    out = capsys.readouterr().out
    assert "pushed 1 (1 created" in out and " 0 dead-lettered" in out
    with psycopg.connect(libpq_url(stack_env["DATABASE_URL_OF_STACK"])) as conn:
        pushed = conn.execute("select airtable_id from airtable.personal_goals where id = %s", (row_id,)).fetchone()
        letters = conn.execute("select count(*) from airtable_sync.dead_letter where status = 'open'").fetchone()
    assert pushed[0] is not None and letters == (0,)


def test_the_stack_runs_enough_of_the_docs() -> None:
    ran = {words(*split(c)) for c in RUNNABLE}
    assert {("sync",), ("status",), ("webhooks", "list"), ("dlq", "list"), ("checks", "run")} <= ran


def test_every_document_is_read() -> None:
    read = {c.path for c in COMMANDS}
    assert {ROOT / "README.md", ROOT / "docs" / "runbook.md", ROOT / "docs" / "sandbox.md"} <= read
    assert all(isinstance(p, Path) for p in read)
