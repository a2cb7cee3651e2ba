"""What the Dagster instance (``$DAGSTER_HOME/dagster.yaml``) must hold for airtable_pg's rate reasoning to hold.

Every process shares each base's 5 requests/s, so the instance must queue runs and cap them: without the queue,
sensors that fire every few seconds start runs at once; without a cap, extra runs only wait on the shared bucket
while each holds a process and database connections; without a limit on ``dagster/backfill``, a backfill of
every table takes every slot and the sensor-driven runs (webhook care, polls, the outbox) stop flowing.
``dagster_home/dagster.yaml`` in this repository holds all three. The code location checks the file when it
loads and logs one line per requirement missing; it never refuses to load (a project may have good reasons).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("airtable_pg")

QUEUED_RUN_COORDINATOR = "QueuedRunCoordinator"
BACKFILL_TAG = "dagster/backfill"


def instance_problems(config: Mapping[str, Any]) -> list[str]:
    """What the instance configuration (``dagster.yaml``, parsed) lacks, one sentence each."""
    problems = []
    coordinator = config.get("run_coordinator") or {}
    if coordinator.get("class") != QUEUED_RUN_COORDINATOR:
        problems.append(
            f"runs are not queued (run_coordinator: class {QUEUED_RUN_COORDINATOR}): sensors would start runs at once"
        )
    # Dagster reads the limits from `concurrency.runs` (or, in older files, the coordinator's own config).
    runs = {**(coordinator.get("config") or {}), **((config.get("concurrency") or {}).get("runs") or {})}
    limit = runs.get("max_concurrent_runs")
    if not isinstance(limit, int) or limit < 1:
        problems.append(
            "no cap on concurrent runs (concurrency: runs: max_concurrent_runs, e.g. 4): more runs only wait on "
            "each base's shared 5 requests/s while holding processes and database connections"
        )
    tags = [item.get("key") for item in runs.get("tag_concurrency_limits") or [] if isinstance(item, dict)]
    if BACKFILL_TAG not in tags:
        problems.append(
            f"no limit on {BACKFILL_TAG} runs (concurrency: runs: tag_concurrency_limits, e.g. limit 2): a backfill "
            "could take every slot and stop the webhook, poll and outbox runs"
        )
    return problems


def check_instance_config(dagster_home: Path) -> list[str]:
    """Check ``dagster_home/dagster.yaml`` and log one line per problem; returns the lines logged."""
    path = dagster_home / "dagster.yaml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        config = {}
    lines = [f"airtable_pg: {path}: {problem}" for problem in instance_problems(config)]
    for line in lines:
        log.warning(line)
    return lines
