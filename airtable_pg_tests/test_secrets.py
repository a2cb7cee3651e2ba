"""Secrets never leak: a sync, a failed sync and a webhook round, with distinctive secrets, grepped everywhere.

Every CLI command runs as its own process (stdout and stderr captured, ``--debug`` tracebacks included); the
receiver's log, Dagster's event log, run config and the code location's resource and asset metadata are
searched too. The secrets: the Airtable token, a wrong token, the database password and the hook's MAC secret.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance
from dagster._serdes import serialize_value
from sqlalchemy.engine import make_url

from airtable_pg.defs.jobs import FULL_SYNC_JOB
from airtable_pg.postgres.database import libpq_url, sqlalchemy_url
from airtable_pg.spec import load_spec
from airtable_sandbox.demo import DEMO_BASE_ID, USER_FIELDS
from airtable_sandbox.pytest_plugin import airtable_api_for

TOKEN = "patSecretToken0x5EC.4f1d9b2e7a6c3d8e"
WRONG_TOKEN = "patWrongSecret0xBAD.9a8b7c6d5e4f3a2b"
DB_PASSWORD = "DbPassw0rd-5ecret-77aa"  # trust auth on the embedded server ignores it: it only has to stay hidden
USERS = load_spec().bases["coaching"].tables["users"]


def with_password(url: str) -> str:
    rendered = make_url(sqlalchemy_url(url)).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    return rendered.replace("postgresql+psycopg://", "postgresql://", 1)


def forms(secret: str) -> list[str]:
    """A secret as it could leak: itself, and its base64 decoding's hex when it is a MAC key."""
    found = [secret]
    with contextlib.suppress(ValueError):
        found.append(base64.b64decode(secret, validate=True).hex())
    return found


def assert_hidden(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, f"a secret leaked into {where}"


def test_no_secret_in_any_output_log_event_or_metadata(sandbox_factory, database_url: str, tmp_path: Path, caplog):
    sandbox = sandbox_factory(demo_records=12, token=TOKEN)
    url = with_password(database_url)
    env = {**os.environ, "DATABASE_URL": url, "AIRTABLE_API_KEY": TOKEN, "AIRTABLE_API_URL": sandbox.url,
           "AIRTABLE_PG_HOME": str(tmp_path), "AIRTABLE_PG_RATE_LIMIT": "50"}  # fmt: skip
    outputs: dict[str, str] = {}

    def run(name: str, *argv: str, **extra: str) -> int:
        done = subprocess.run([sys.executable, "-m", "airtable_pg", *argv], env={**env, **extra},
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        outputs[name] = done.stdout + done.stderr
        return done.returncode

    # A sync, and one that fails on a refused token (with --debug: tracebacks too).
    assert run("sync", "sync", "--full", "--table", "users") == 0
    assert run("failed sync", "--debug", "sync", "--full", "--table", "users", AIRTABLE_API_KEY=WRONG_TOKEN) == 1
    assert run("config", "config") == 0 and run("db url", "db", "url") == 0

    # A webhook round: the receiver (its own process and log), a hook pinging it, a change, the applier.
    log_file = tmp_path / "receiver.log"
    with log_file.open("w") as log:
        receiver = subprocess.Popen([sys.executable, "-m", "airtable_pg", "receiver", "--port", "0"], env=env,
                                    stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
    try:
        webhook_url = receiver.stdout.readline().strip().rsplit(" ", 1)[1]
        assert run("webhooks ensure", "webhooks", "ensure", "--url", webhook_url) == 0
        with psycopg.connect(libpq_url(database_url)) as conn:
            (mac_secret,) = conn.execute("select mac_secret from airtable_sync.webhook").fetchone()
        changed = airtable_api_for(sandbox).table(DEMO_BASE_ID, USERS.id).create({USER_FIELDS["name"]: "Pinged"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "stored notification" not in log_file.read_text():
            time.sleep(0.2)
        assert run("webhooks apply", "webhooks", "apply") == 0
        assert run("webhooks list", "webhooks", "list") == 0
    finally:
        receiver.terminate()
        outputs["receiver stdout"] = receiver.communicate(timeout=30)[0]
    outputs["receiver log"] = log_file.read_text()
    assert "stored notification" in outputs["receiver log"]
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("select 1 from airtable.users where airtable_id = %s", (changed["id"],)).fetchone()

    # The code location: a run, a failed run; their event logs, run config, resource config and asset metadata.
    caplog.set_level(logging.DEBUG)
    instance = DagsterInstance.ephemeral()
    for name, token in (("dagster run", TOKEN), ("dagster failed run", WRONG_TOKEN)):
        with pytest.MonkeyPatch.context() as patch:
            for variable, value in {**env, "AIRTABLE_API_KEY": token}.items():
                patch.setenv(variable, value)
            from airtable_pg.definitions import build_definitions

            defs = build_definitions(load_spec())
            job = defs.resolve_job_def(FULL_SYNC_JOB)
            result = job.execute_in_process(instance=instance, raise_on_error=False)
            # The good token materializes every table (a gate may still fail on test data); the wrong one none.
            assert bool(result.get_asset_materialization_events()) == (token == TOKEN), name
            run = instance.get_run_by_id(result.run_id)
            outputs[name] = "\n".join(
                [serialize_value(list(instance.all_logs(result.run_id))), repr(run.run_config), repr(run.tags)]
            )
            outputs[f"{name}: resources"] = repr(defs.resources)
            outputs[f"{name}: assets"] = repr([spec.metadata for spec in defs.resolve_all_asset_specs()])
    outputs["python logs"] = caplog.text

    secrets = [TOKEN, WRONG_TOKEN, DB_PASSWORD, mac_secret]
    assert outputs["failed sync"].count("401") >= 1  # the failure is reported, by its status, not its token
    for where, text in outputs.items():
        assert_hidden(text, secrets, where)
