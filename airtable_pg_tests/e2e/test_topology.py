"""The deployment topology of docs/deployment.md, on one machine: separate processes talking over gRPC and HTTP.

The code location runs as its own gRPC code server (``dagster code-server start``) with the environment a deployment
gives it (a fresh migrated database, the session's sandbox as Airtable). A ``grpc_server`` workspace file points
``dagster-webserver`` and ``dagster-daemon`` at it; their instance is the shipped ``dagster_home/dagster.yaml``
(storage on Postgres, ``QueuedRunCoordinator``). A sync of one table is launched through the webserver's GraphQL
API with Dagster's own client: it succeeds only if the daemon dequeues it and the code server runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from airtable_pg.cli.dev import (
    Child,
    DevError,
    dagster_executable,
    dagster_storage_url,
    free_port,
    start_child,
    stop_child,
    wait_for_http,
)
from airtable_pg.defs.jobs import FULL_SYNC_JOB
from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, upgrade
from airtable_pg.spec import load_spec
from airtable_pg_tests.sync_helpers import assert_mirror_matches
from airtable_sandbox.pytest_plugin import airtable_api_for
from airtable_sandbox.server import Sandbox

pytestmark = [
    pytest.mark.e2e,
    # dagster_graphql's own call into gql; nothing this project can change
    pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
LOCATION = "airtable_pg"
BASE = load_spec().bases["coaching"]
TABLE = BASE.tables["programs"]  # a small table with no upstream tables: one step, one request
STARTUP_SECONDS = 60
RUN_SECONDS = 60
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass
class Topology:
    webserver_port: int
    database_url: str
    children: list[Child]
    logs: Path

    def output(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for log in self.logs.glob("*.log")
        )


def deployment_environment(database_url: str, storage_url: str, dagster_home: Path, sandbox: Sandbox) -> dict[str, str]:
    """One environment file for every process, as docs/deployment.md's ``/etc/airtable_pg/env``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE_", "DATABASE_", "DAGSTER_"))}
    return inherited | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "DAGSTER_PG_URL": storage_url,
        "DAGSTER_HOME": str(dagster_home),
        "AIRTABLE_API_URL": sandbox.url,
        "AIRTABLE_API_KEY": sandbox.token,
        "AIRTABLE_PG_HOME": str(dagster_home.parent / "airtable_pg_home"),
    }


def start_logged(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Child:
    """``start_child`` with stdout and stderr in ``logs/<name>.log``."""
    return start_child(name, argv, env=env, cwd=REPO, output=logs / f"{name}.log")


@pytest.fixture
def topology(new_database: Callable[[str], str], sandbox: Sandbox, tmp_path: Path) -> Iterator[Topology]:
    database_url = new_database("topology")
    upgrade(alembic_config(database_url, versions=DEMO_VERSIONS))  # the deploy step, before the services start
    storage_url = dagster_storage_url(new_database("topology_dagster"), name=None)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")  # the shipped instance
    code_port, webserver_port = free_port(HOST), free_port(HOST)
    workspace = tmp_path / "workspace.grpc.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: {HOST}\n      port: {code_port}\n      location_name: {LOCATION}\n"
    )
    env = deployment_environment(database_url, storage_url, dagster_home, sandbox)
    logs = tmp_path / "logs"
    logs.mkdir()
    children: list[Child] = []
    topology = Topology(webserver_port, database_url, children, logs)
    try:
        children.append(start_logged("code-server", [dagster_executable("dagster"), "code-server", "start",
                                                      "-m", "airtable_pg.definitions", "-h", HOST,
                                                      "-p", str(code_port)], env, logs))  # fmt: skip
        wait_for_grpc(code_port, children, env)
        children.append(start_logged("webserver", [dagster_executable("dagster-webserver"), "-w", str(workspace),
                                                    "-h", HOST, "-p", str(webserver_port)], env, logs))  # fmt: skip
        children.append(start_logged("daemon", [dagster_executable("dagster-daemon"), "run", "-w", str(workspace)],
                                     env, logs))  # fmt: skip
        try:
            wait_for_http(f"http://{HOST}:{webserver_port}/server_info", children, threading.Event(), STARTUP_SECONDS)
        except DevError as error:
            pytest.fail(f"{error}\n{topology.output()}")
        yield topology
    finally:
        for child in reversed(children):  # each whole process group: run workers and step processes too
            stop_child(child, timeout=15)


def wait_for_grpc(port: int, children: list[Child], env: dict[str, str]) -> None:
    """Dagster's own health check of a code server: it answers once the code location has loaded."""
    deadline = time.monotonic() + STARTUP_SECONDS
    check = [dagster_executable("dagster"), "api", "grpc-health-check", "-p", str(port), "--host", HOST]
    while time.monotonic() < deadline:
        assert all(c.process.poll() is None for c in children), "the code server exited while starting"
        try:  # the check's own start-up (it imports Dagster) can take longer than 30 s on a loaded machine
            if subprocess.run(check, env=env, capture_output=True, timeout=120).returncode == 0:
                return
        except subprocess.TimeoutExpired:
            continue  # within the overall deadline: ask again
        time.sleep(0.5)
    pytest.fail(f"the code server did not answer on port {port} within {STARTUP_SECONDS} s")


def test_a_sync_run_launched_through_the_webserver_runs_on_the_code_server(
    topology: Topology, sandbox: Sandbox
) -> None:
    client = DagsterGraphQLClient(HOST, port_number=topology.webserver_port, timeout=30)
    run_id = client.submit_job_execution(
        FULL_SYNC_JOB,
        repository_location_name=LOCATION,
        repository_name="__repository__",
        asset_selection=[["airtable", BASE.key, TABLE.key]],
    )
    deadline, status = time.monotonic() + RUN_SECONDS, "QUEUED"
    while status not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.5)  # QUEUED until the daemon dequeues it; then the code server starts the run worker
        try:
            status = client.get_run_status(run_id).value
        except DagsterGraphQLClientError:
            continue
    assert status == "SUCCESS", topology.output()
    assert assert_mirror_matches(topology.database_url, airtable_api_for(sandbox), BASE, TABLE) > 0
