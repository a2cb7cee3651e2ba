"""End to end: `airtable-pg dev` brings up the real Dagster webserver and daemon, and the UI shows the lineage.

One ``airtable-pg dev`` process for the module (the session's embedded Postgres via ``DATABASE_URL``, a
Postgres-backed ``DAGSTER_HOME`` in a tmp folder, the sandbox with a small demo base). The checks go
through the webserver's GraphQL API (the lineage; a full sync launched as the UI's button does, which only
completes if the daemon dequeues it), then through headless Chromium on the asset graph page; the last
test stops the command with SIGTERM and expects every child process gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from airtable_pg.archive.archiver import attachment_fields
from airtable_pg.defs.assets import base_lineage
from airtable_pg.defs.jobs import FULL_SYNC_JOB, INCREMENTAL_SYNC_JOB
from airtable_pg.defs.polls import poll_sensor_name
from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import load_spec
from airtable_sandbox.demo_project import DEMO_SPEC

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SPEC = load_spec(str(DEMO_SPEC))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
STARTUP_SECONDS = 300
RUN_SECONDS = 300  # a deadline, not a wait: generous for a machine under heavy load

# Reads the asset graph as drawn: each node's box and name, each edge's two end points.
READ_GRAPH_JS = """
() => {
  const svg = document.querySelector('svg[class*="svgContainer"]');
  const nodes = [...svg.querySelectorAll('foreignObject')].map(box => ({
    name: box.querySelector('[class*="assetName"] [data-tooltip]')?.getAttribute('data-tooltip'),
    x: +box.getAttribute('x'), y: +box.getAttribute('y'),
    width: +box.getAttribute('width'), height: +box.getAttribute('height'),
  })).filter(node => node.name);
  const edges = [...svg.querySelectorAll('path[marker-end]')].map(path => {
    const numbers = path.getAttribute('d').match(/-?\\d+(\\.\\d+)?/g).map(Number);
    return {start: numbers.slice(0, 2), end: numbers.slice(-2)};
  });
  return {nodes, edges};
}
"""


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def expected_edges() -> set[tuple[str, str]]:
    """(upstream, downstream) table keys, as the spec's lineage links draw them."""
    edges: set[tuple[str, str]] = set()
    for base in SPEC.bases.values():
        edges |= {(edge.upstream, edge.downstream) for edge in base_lineage(base).kept}
    return edges


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (read from /proc; Linux only, like the dev command's process groups)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = set(), [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for an init that does not reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


READY_LINE = "airtable_pg dev is running"


def wait_for_asset_nodes(server: DevServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"airtable-pg dev exited early:\n{server.output()}"
        try:
            # Ready as a person sees it: the UI serves the assets *and* the command printed its summary
            # (it polls the webserver on its own schedule, so the summary may come a moment later).
            if graphql(server.url, "{ assetNodes { id } }")["assetNodes"] and READY_LINE in server.output():
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"the Dagster UI did not load the code location in {STARTUP_SECONDS} s:\n{server.output()}")


@pytest.fixture(scope="module")
def dev_server(migrated_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    home = tmp_path_factory.mktemp("dev")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"AIRTABLE_API_KEY", "AIRTABLE_API_URL", "AIRTABLE_PG_SPEC"}}
    env |= {"DATABASE_URL": migrated_url, "DAGSTER_HOME": str(home / "dagster_home"), "PYTHONUNBUFFERED": "1",
            "AIRTABLE_PG_HOME": str(home / "state")}  # fmt: skip
    log = home / "dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "airtable_pg", "dev", "--port", str(port), "--records", "40"],
            cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = DevServer(process=process, url=f"http://127.0.0.1:{port}", log=log)
    try:
        wait_for_asset_nodes(server)
        yield server
    finally:
        if process.poll() is None:  # the stop test did not run (or failed): do not leave a UI behind
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def test_dev_prints_where_everything_runs(dev_server: DevServer):
    output = dev_server.output()
    assert f"Dagster UI    {dev_server.url}" in output
    assert "psql 'postgresql://" in output
    assert "sandbox at http://127.0.0.1:" in output
    dagster_yaml = Path(os.path.dirname(dev_server.log)) / "dagster_home" / "dagster.yaml"
    assert "postgres_url" in dagster_yaml.read_text()  # the instance is Postgres-backed, not SQLite


def test_dev_serves_the_airtable_api_from_postgres_beside_the_sandbox(dev_server: DevServer):
    from pyairtable import Api

    stack = json.loads((dev_server.log.parent / "state" / "dev.json").read_text())
    assert f"Airtable API  {stack['api_url']}  (an app's endpoint URL" in dev_server.output()
    assert stack["api_token"] not in dev_server.output()
    mirror = Api(stack["api_token"], endpoint_url=stack["api_url"]).table(stack["base_id"], "users").all()
    sandbox = Api(stack["airtable_api_key"], endpoint_url=stack["airtable_api_url"]).table(stack["base_id"], "users")
    assert sorted(mirror, key=lambda r: r["id"]) == sorted(sandbox.all(), key=lambda r: r["id"]) and mirror


def test_graphql_lists_every_table_with_its_upstream_tables(dev_server: DevServer):
    data = graphql(
        dev_server.url,
        "{ assetNodes { assetKey { path } dependencyKeys { path } groupName jobNames } }",
    )
    every = {tuple(node["assetKey"]["path"]): node for node in data["assetNodes"]}
    # Beside the tables, one attachment archive per base (defs.archive), fed by the tables holding attachments.
    archive = every.pop(("archive", "coaching", "attachments"))
    assert archive["groupName"] == "coaching" and {tuple(d["path"]) for d in archive["dependencyKeys"]} == {
        ("airtable", base.key, table.key) for base, table in SPEC.tables() if attachment_fields(table)
    }
    baseline = every.pop(("cutover", "latency_baseline"))  # defs.baseline: its own group, no lineage
    assert baseline["groupName"] == "cutover" and "latency_baseline" in baseline["jobNames"]
    assert baseline["dependencyKeys"] == []
    nodes = every
    assert set(nodes) == {("airtable", base.key, table.key) for base, table in SPEC.tables()}
    edges = expected_edges()
    for (_, base_key, table_key), node in nodes.items():
        upstream = {tuple(dep["path"]) for dep in node["dependencyKeys"]}
        assert upstream == {("airtable", base_key, up) for up, down in edges if down == table_key}, table_key
        assert node["groupName"] == base_key
        assert {FULL_SYNC_JOB, INCREMENTAL_SYNC_JOB} <= set(node["jobNames"])


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
RUN_STATUS = "query Status($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
GATES = {"reconcile_counts", "reconcile_sample", "quality", "links", "freshness", "schema_drift"}
LATEST_METADATA = """
{ assetNodes { assetKey { path }
  assetMaterializations(limit: 20) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } } } }
"""


def sandbox_record_counts(server: DevServer) -> dict[str, int]:
    """Records per table id in the dev command's sandbox (its URL is in the command's output)."""
    from airtable_sandbox.main import DEV_TOKEN

    url = re.search(r"sandbox at (http://\S+)", server.output()).group(1)
    stats = requests.get(f"{url}/_sandbox/stats", headers={"Authorization": f"Bearer {DEV_TOKEN}"}, timeout=10)
    stats.raise_for_status()
    return stats.json()["records"][SPEC.bases["coaching"].id]


def mirror_count(database_url: str, schema: str, table: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        query = sql.SQL("select count(*) from {} where deleted_at is null").format(sql.Identifier(schema, table))
        return conn.execute(query).fetchone()[0]


FIRST_IMPORT = """
{ assetNodes { assetKey { path }
  assetMaterializations(limit: 1) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } }
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }
"""


def test_the_first_import_is_materialized_with_its_row_count_and_every_gate_evaluated(dev_server: DevServer):
    """Right after `airtable-pg dev`, before any run: the UI shows the imported data and its gates, none blank."""
    in_sandbox = sandbox_record_counts(dev_server)
    base = SPEC.bases["coaching"]
    for node in table_nodes(graphql(dev_server.url, FIRST_IMPORT)["assetNodes"]):
        table = base.tables[node["assetKey"]["path"][-1]]
        [materialization] = node["assetMaterializations"]
        assert materialization["runId"] == "", table.key  # recorded by the dev command, not by a run
        metadata = {e["label"]: e.get("intValue") for e in materialization["metadataEntries"]}
        assert metadata["dagster/row_count"] == metadata["inserted"] == in_sandbox[table.id] > 0, table.key
        checks = node["assetChecksOrError"]["checks"]
        statuses = {c["name"]: (c["executionForLatestMaterialization"] or {}).get("status") for c in checks}
        assert statuses == dict.fromkeys(GATES, "SUCCEEDED"), (table.key, statuses)


FIRST_IMPORT_OF = """
query Gates($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }
"""


def cli(dev_server: DevServer, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command in a second terminal beside the dev stack: it finds the stack through dev.json alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTABLE", "DATABASE", "DAGSTER"))}
    env["AIRTABLE_PG_HOME"] = str(dev_server.log.parent / "state")
    return subprocess.run(
        [sys.executable, "-m", "airtable_pg", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_checks_run_beside_dev_is_what_the_ui_and_cutover_status_show(dev_server: DevServer):
    started = time.time()
    checked = cli(dev_server, "checks", "run", "--json")
    assert checked.returncode == 0, checked.stderr
    results = [json.loads(line) for line in checked.stdout.splitlines()]
    assert len(results) == len(GATES) * len(SPEC.bases["coaching"].tables) and all(r["passed"] for r in results)
    assert f"recorded in Dagster: {len(results)} check evaluation(s)" in checked.stderr
    status = cli(dev_server, "cutover", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    for entity in map(json.loads, status.stdout.splitlines()):
        assert entity["ready"] and {g["state"] for g in entity["gates"]} == {"passed"}, entity
    key = {"path": ["airtable", "coaching", "users"]}
    for gate in GATES:  # the UI holds the verdict `checks run` just made (runless: no run id)
        executions = graphql(dev_server.url, CHECK_EXECUTIONS_LATEST, {"key": key, "name": gate})
        latest = next(e for e in executions["assetCheckExecutions"] if not e["runId"])
        assert latest["status"] == "SUCCEEDED" and latest["timestamp"] >= started - 1, (gate, latest)


@pytest.fixture(scope="module")
def full_sync_run_id(dev_server: DevServer) -> str:
    """A full sync launched as the UI's button does; its run id once it finished (only the daemon can finish it)."""
    params = {"selector": {"repositoryLocationName": "airtable_pg", "repositoryName": "__repository__",
                           "jobName": FULL_SYNC_JOB}}  # fmt: skip
    launched = graphql(dev_server.url, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline, status = time.monotonic() + RUN_SECONDS, "QUEUED"
    while status not in {"SUCCESS", "FAILURE", "CANCELED"} and time.monotonic() < deadline:
        time.sleep(1)  # QUEUED until the daemon's run coordinator dequeues it: no daemon, no run
        status = graphql(dev_server.url, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
    assert status == "SUCCESS", dev_server.output()[-5000:]
    return run_id


def test_full_sync_job_launched_like_the_ui_does_runs_through_the_queue_and_daemon(
    dev_server: DevServer, migrated_url: str, full_sync_run_id: str
):
    run_id = full_sync_run_id
    in_sandbox = sandbox_record_counts(dev_server)
    nodes = table_nodes(graphql(dev_server.url, LATEST_METADATA)["assetNodes"])
    base = SPEC.bases["coaching"]
    for node in nodes:
        table = base.tables[node["assetKey"]["path"][-1]]
        # this run's materialization: the poll sensors materialize the tables too (incremental, every minute)
        ours = next(m for m in node["assetMaterializations"] if m["runId"] == run_id)
        metadata = {e["label"]: e.get("intValue") for e in ours["metadataEntries"]}
        assert metadata["rows_seen"] == metadata["dagster/row_count"] == in_sandbox[table.id] > 0, table.key
        assert mirror_count(migrated_url, base.schema, table.mirror) == in_sandbox[table.id]


ASSET_CHECKS = """
query Checks($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) { assetChecksOrError { ... on AssetChecks {
  checks { name blocking } } } } }
"""
CHECK_EXECUTIONS = """
query Executions($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 50) {
    runId status evaluation { success metadataEntries { label } } } }
"""
CHECK_EXECUTIONS_LATEST = """
query Latest($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 5) { runId status timestamp } }
"""


def test_the_full_sync_ran_every_cutover_gate_and_the_ui_shows_them(
    dev_server: DevServer, full_sync_run_id: str, tmp_path: Path
):
    from playwright.sync_api import sync_playwright

    key = {"path": ["airtable", "coaching", "users"]}
    checks = graphql(dev_server.url, ASSET_CHECKS, {"key": key})["assetNodes"][0]["assetChecksOrError"]["checks"]
    assert {check["name"] for check in checks} == GATES
    assert all(check["blocking"] for check in checks), checks
    # The full sync's own evaluations, not the latest materialization's: a poll run may be evaluating those now.
    for gate in GATES:
        executions = graphql(dev_server.url, CHECK_EXECUTIONS, {"key": key, "name": gate})["assetCheckExecutions"]
        ours = [e for e in executions if e["runId"] == full_sync_run_id]
        assert len(ours) == 1, (gate, executions)
        assert ours[0]["status"] == "SUCCEEDED", (gate, ours)  # the run has ended: each gate ran and passed
        assert ours[0]["evaluation"]["success"] and ours[0]["evaluation"]["metadataEntries"], gate  # explains itself
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.goto(f"{dev_server.url}/assets/airtable/coaching/users?view=checks", timeout=60_000)
            for gate in GATES:
                page.get_by_text(gate, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "checks.png"), full_page=True)
            print(f"users checks screenshot: {tmp_path / 'checks.png'}")
            # What the page says, as a person reads it: every gate passed, none blank or failed.
            body = page.inner_text("body")
            assert "Not evaluated" not in body and "Failed" not in body, body[:3000]
            assert f"Checks ({len(GATES)})" in body, body[:3000]
            for gate in GATES:  # the list on the left: each gate's name, then its state
                assert f"{gate}\nSucceeded" in body, (gate, body[:3000])
        finally:
            browser.close()


def table_nodes(nodes: list[dict]) -> list[dict]:
    """The tables' asset nodes (not the attachment archive's, ``archive/<base>``)."""
    return [node for node in nodes if node["assetKey"]["path"][0] == "airtable"]


def node_at(nodes: list[dict], point: list[float], margin: float = 12) -> str:
    """The node whose box (grown by ``margin``: arrows stop just short of it) holds ``point``."""
    x, y = point
    hits = [
        n["name"] for n in nodes
        if n["x"] - margin <= x <= n["x"] + n["width"] + margin and n["y"] <= y <= n["y"] + n["height"]
    ]  # fmt: skip
    assert len(hits) == 1, (point, hits)
    return hits[0]


def test_asset_graph_page_shows_every_table_and_the_lineage_edges(dev_server: DevServer, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    # The tables, and the attachment archive drawn in their group (defs.archive) with an edge from each table it
    # copies from.
    tables = {table.key for _, table in SPEC.tables()} | {"attachments"}
    archive_edges = {(table.key, "attachments") for _, table in SPEC.tables() if attachment_fields(table)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            # The base's group, as a user opens it from the catalog: with a second group (cutover: the latency
            # baseline) the overall graph starts with its groups collapsed.
            page.goto(f"{dev_server.url}/locations/airtable_pg/asset-groups/coaching", timeout=60_000)
            for table in tables:
                page.locator(f'svg foreignObject [data-tooltip="{table}"]').wait_for(timeout=60_000)
            page.wait_for_function(
                "n => document.querySelectorAll('svg[class*=\"svgContainer\"] path[marker-end]').length >= n",
                arg=len(expected_edges() | archive_edges), timeout=30_000,
            )  # fmt: skip
            # Each node's status row loads from the instance's (Postgres) event log: proof that storage answers.
            page.wait_for_function(
                "() => !document.querySelector('svg[class*=\"svgContainer\"]').textContent.includes('Loading')",
                timeout=30_000,
            )
            drawn = page.evaluate(READ_GRAPH_JS)
            screenshot = tmp_path / "asset_graph.png"
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"asset graph screenshot: {screenshot}")
        finally:
            browser.close()
    assert {node["name"] for node in drawn["nodes"]} == tables
    edges = {(node_at(drawn["nodes"], e["start"]), node_at(drawn["nodes"], e["end"])) for e in drawn["edges"]}
    assert edges == expected_edges() | archive_edges, json.dumps(drawn)


WEBHOOK_MATERIALIZATIONS = """
query Applied($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  assetMaterializations(limit: 5) { runId metadataEntries { label ... on TextMetadataEntry { text } } } } }
"""
WEBHOOK_HEALTH = """
query Health($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  assetObservations(limit: 20) { metadataEntries { label ... on BoolMetadataEntry { boolValue } } } } }
"""


def test_an_edit_through_pyairtable_reaches_postgres_by_webhook_and_the_ui_shows_hook_health(
    dev_server: DevServer, migrated_url: str
):
    from pyairtable import Api

    from airtable_sandbox.demo import USER_FIELDS
    from airtable_sandbox.main import DEV_TOKEN

    sandbox_url = re.search(r"sandbox at (http://\S+)", dev_server.output()).group(1)
    assert "Receiver      http://127.0.0.1:" in dev_server.output()
    users = SPEC.bases["coaching"].tables["users"]
    created = (
        Api(DEV_TOKEN, endpoint_url=sandbox_url)
        .table(SPEC.bases["coaching"].id, users.id)
        .create({USER_FIELDS["name"]: "Live Lena"})
    )
    deadline, found = time.monotonic() + 30, []
    while not found and time.monotonic() < deadline:
        with psycopg.connect(libpq_url(migrated_url)) as conn:
            found = conn.execute("select name from airtable.users where airtable_id = %s", (created["id"],)).fetchall()
        time.sleep(0.2)
    assert found == [("Live Lena",)], dev_server.output()[-3000:]
    with psycopg.connect(libpq_url(migrated_url)) as conn:  # it came by webhook: pinged, verified, applied
        assert conn.execute("select count(*) from airtable_sync.inbox").fetchone()[0] >= 1
        assert conn.execute(
            "select source from airtable_sync.change_event where airtable_id = %s", (created["id"],)
        ).fetchall() == [("webhook",)]

    deadline, runless = time.monotonic() + 30, []
    while not runless and time.monotonic() < deadline:  # recorded in Dagster without a run
        nodes = graphql(dev_server.url, WEBHOOK_MATERIALIZATIONS, {"key": {"path": ["airtable", "coaching", "users"]}})
        runless = [
            m for m in nodes["assetNodes"][0]["assetMaterializations"]
            if {"label": "mode", "text": "webhook"} in m["metadataEntries"] and not m["runId"]
        ]  # fmt: skip
        time.sleep(0.5)
    assert runless, dev_server.output()[-3000:]
    # Its gates are judged for it at once: never "Not Evaluated" for a change the applier made.
    deadline, statuses = time.monotonic() + 10, {}
    while time.monotonic() < deadline:
        node = graphql(dev_server.url, FIRST_IMPORT_OF, {"key": {"path": ["airtable", "coaching", "users"]}})
        checks = node["assetNodes"][0]["assetChecksOrError"]["checks"]
        statuses = {c["name"]: (c["executionForLatestMaterialization"] or {}).get("status") for c in checks}
        if None not in statuses.values():
            break
        time.sleep(0.2)
    assert statuses == dict.fromkeys(GATES, "SUCCEEDED"), statuses

    def latest_health() -> bool | None:
        """The newest observation that carries hook health: polls and quiet webhook passes record others too."""
        nodes = graphql(dev_server.url, WEBHOOK_HEALTH, {"key": {"path": ["airtable", "coaching", "users"]}})
        for observation in nodes["assetNodes"][0]["assetObservations"]:
            entries = {e["label"]: e.get("boolValue") for e in observation["metadataEntries"]}
            if "healthy" in entries:
                return entries["healthy"]
        return None

    deadline, healthy = time.monotonic() + 120, None
    while healthy is None and time.monotonic() < deadline:  # the daemon ticks the health sensor
        healthy = latest_health()
        if healthy is None:
            time.sleep(2)
    assert healthy is True


PLOTTED = """
query Plotted($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  assetObservations(limit: 20) { metadataEntries { label ... on FloatMetadataEntry { floatValue } } } } }
"""


def test_the_table_assets_plot_freshness_and_queue_depth_without_a_run(dev_server: DevServer, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    key = {"path": ["airtable", "coaching", "users"]}
    deadline, figures = time.monotonic() + RUN_SECONDS, {}
    while not figures and time.monotonic() < deadline:  # the daemon's first tick of the alerts sensor records them
        for observation in graphql(dev_server.url, PLOTTED, {"key": key})["assetNodes"][0]["assetObservations"]:
            entries = {e["label"]: e.get("floatValue") for e in observation["metadataEntries"]}
            if "notifications_waiting" in entries:
                figures = entries
                break
        else:
            time.sleep(2)
    assert figures, dev_server.output()[-3000:]
    assert figures["notifications_waiting"] == 0 and figures["freshness_age_seconds"] is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.goto(f"{dev_server.url}/assets/airtable/coaching/users", timeout=60_000)
            skip = page.get_by_role("button", name="Skip")  # the UI's newsletter prompt, when it shows
            with contextlib.suppress(Exception):
                skip.click(timeout=5_000)
            page.get_by_role("button", name="Plots").click(timeout=60_000)
            page.wait_for_function("() => document.querySelectorAll('canvas').length >= 4", timeout=60_000)
            metadata = page.inner_text("body")
            screenshot = tmp_path / "users_plots.png"
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"users plots screenshot: {screenshot}")
        finally:
            browser.close()
    # One chart per numeric key: lag and queue depth among them, drawn over time as the sensor records them.
    plotted = ["freshness_age_seconds", "notifications_waiting", "notifications_oldest_age_seconds"]
    plotted.append("dead_letters_open")
    for label in plotted:
        assert label in metadata, label


SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { minIntervalSeconds description assetSelection { assetSelectionString }
    sensorState { status ticks(limit: 10) { status timestamp skipReason } } } } }
"""


def test_the_ui_shows_the_poll_sensors_running_with_their_ticks(dev_server: DevServer):
    base = SPEC.bases["coaching"]
    selector = {"repositoryLocationName": "airtable_pg", "repositoryName": "__repository__"}
    for table in (base.tables["users"], base.tables["programs"]):
        name = poll_sensor_name(base, table)
        deadline, sensor = time.monotonic() + RUN_SECONDS, {}
        while time.monotonic() < deadline:  # the daemon evaluates each sensor once it starts, then every interval
            sensor = graphql(dev_server.url, SENSOR_TICKS, {"selector": {**selector, "sensorName": name}})
            sensor = sensor["sensorOrError"]
            if sensor.get("sensorState", {}).get("ticks"):
                break
            time.sleep(2)
        assert sensor["__typename"] == "Sensor", sensor
        assert sensor["minIntervalSeconds"] == table.poll_interval_seconds
        # Its page names the target and the job in words, not a selection object's repr.
        assert sensor["assetSelection"]["assetSelectionString"].startswith(f'key:"airtable/coaching/{table.key}"')
        assert f"Safety poll of coaching.{table.key}" in sensor["description"]
        assert sensor["sensorState"]["status"] == "RUNNING", name
        ticks = sensor["sensorState"]["ticks"]
        assert ticks, f"{name} has no tick recorded:\n{dev_server.output()[-3000:]}"
        # A tick either skipped (synced a moment ago, or nothing changed) or requested a poll run; never failed.
        assert {tick["status"] for tick in ticks} <= {"SKIPPED", "SUCCESS", "STARTED"}, ticks
    users = poll_sensor_name(base, base.tables["users"])
    deadline, reasons = time.monotonic() + 2 * RUN_SECONDS, []
    while time.monotonic() < deadline:  # the users' second tick (a minute after the first) asks Airtable
        ticks = graphql(dev_server.url, SENSOR_TICKS, {"selector": {**selector, "sensorName": users}})
        reasons = [t["skipReason"] or "" for t in ticks["sensorOrError"]["sensorState"]["ticks"]]
        if any(r.startswith("nothing changed in coaching.users since ") for r in reasons):
            break
        time.sleep(2)
    assert any(r.startswith("nothing changed in coaching.users since ") for r in reasons), reasons
    # Nothing changed that the webhooks had not applied: no poll launched a run in this whole module.
    polls = graphql(dev_server.url, POLL_RUNS)["runsOrError"]["results"]
    assert polls == [], polls


POLL_RUNS = """
{ runsOrError(filter: {tags: [{key: "airtable_pg/trigger", value: "poll"}]}) { ... on Runs { results { runId } } } }
"""


def test_sigterm_stops_every_process_and_exits_zero(dev_server: DevServer):
    children = descendants(dev_server.process.pid)
    assert len(children) >= 5  # at least the sandbox, receiver, applier, webserver and daemon
    dev_server.process.send_signal(signal.SIGTERM)
    assert dev_server.process.wait(timeout=60) == 0, dev_server.output()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    left = [pid for pid in children if alive(pid)]
    assert not left, f"still running after the dev command exited: {left}"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{dev_server.url}/server_info", timeout=5)
