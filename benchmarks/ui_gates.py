"""What the Dagster UI shows of the users' gates while users are created in Airtable (issue: the UI tells the truth).

Starts `airtable-pg dev` (sandbox, embedded Postgres, Dagster webserver and daemon), then for ``--minutes``
creates one user a minute through the sandbox's API (as pyairtable would) and polls the webserver's GraphQL every
``--poll-seconds``: each users gate's status for the latest materialization. Reports the polls that found a gate
"Not Evaluated" (no verdict for the latest materialization), the longest a gate was seen in progress, and the Dagster
runs launched meanwhile, by trigger. Screenshots of the users checks page and the lineage view are written beside
the JSON result.

    python -m benchmarks.ui_gates --minutes 10            # results in benchmarks/results/ui_gates.json
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import requests
from pyairtable import Api

from airtable_pg.spec import load_spec
from airtable_sandbox.demo import DEMO_BASE_ID, USER_FIELDS
from airtable_sandbox.main import DEV_TOKEN
from benchmarks.dev_stack import REPO, running_dev_stack

RESULTS = REPO / "benchmarks" / "results"
USERS_KEY = {"path": ["airtable", "coaching", "users"]}
GATES_QUERY = """
query Gates($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  assetMaterializations(limit: 1) { runId timestamp }
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }
"""
RUNS_QUERY = "{ runsOrError(limit: 1000) { ... on Runs { results { runId jobName tags { key value } } } } }"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


def runs_by_trigger(url: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in graphql(url, RUNS_QUERY)["runsOrError"]["results"]:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        key = tags.get("airtable_pg/trigger") or run["jobName"]
        counts[key] = counts.get(key, 0) + 1
    return counts


def screenshots(url: str, folder: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    taken = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            for name, path in (("ui_gates_users_checks", "/assets/airtable/coaching/users?view=checks"),
                               ("ui_gates_lineage", "/asset-groups")):  # fmt: skip
                page.goto(f"{url}{path}", timeout=60_000)
                page.wait_for_timeout(5000)  # the page's own queries settle
                target = folder / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                taken.append(str(target))
        finally:
            browser.close()
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--poll-seconds", type=float, default=5)
    parser.add_argument("--port", type=int, default=3230)
    args = parser.parse_args()
    with running_dev_stack(args.port, "ui_gates_") as stack:
        url = stack.url
        sandbox = re.search(r"sandbox at (http://\S+)", stack.output()).group(1)
        users_table = load_spec().bases["coaching"].tables["users"]
        users = Api(DEV_TOKEN, endpoint_url=sandbox).table(DEMO_BASE_ID, users_table.id)
        runs_before = runs_by_trigger(url)
        polls = not_evaluated = 0
        in_progress_since: dict[str, float] = {}
        longest_in_progress: dict[str, float] = {}
        blank_polls: list[dict] = []
        created, next_user = 0, time.monotonic()
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_user:
                users.create({USER_FIELDS["name"]: f"Gate Watcher {created}"})
                created += 1
                next_user += 60
            node = graphql(url, GATES_QUERY, {"key": USERS_KEY})["assetNodes"][0]
            polls += 1
            statuses = {
                c["name"]: (c["executionForLatestMaterialization"] or {}).get("status")
                for c in node["assetChecksOrError"]["checks"]
            }
            if None in statuses.values():
                not_evaluated += 1
                blank_polls.append({"at": round(now - end + args.minutes * 60, 1), "statuses": statuses})
            for gate, status in statuses.items():
                if status == "IN_PROGRESS":
                    in_progress_since.setdefault(gate, now)
                    longest_in_progress[gate] = max(longest_in_progress.get(gate, 0), now - in_progress_since[gate])
                else:
                    in_progress_since.pop(gate, None)
            time.sleep(max(0.0, args.poll_seconds - (time.monotonic() - now)))
        runs_after = runs_by_trigger(url)
        RESULTS.mkdir(parents=True, exist_ok=True)
        result = {
            "minutes": args.minutes,
            "users_created": created,
            "graphql_polls": polls,
            "polls_with_a_gate_not_evaluated": not_evaluated,
            "blank_polls": blank_polls[:10],
            "longest_seen_in_progress_seconds": {k: round(v, 1) for k, v in longest_in_progress.items()},
            "runs_launched": {
                k: runs_after[k] - runs_before.get(k, 0) for k in runs_after if runs_after[k] != runs_before.get(k, 0)
            },
            "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
            "screenshots": [str(Path(p).relative_to(REPO)) for p in screenshots(url, RESULTS)],
        }
        (RESULTS / "ui_gates.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
