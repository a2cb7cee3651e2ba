"""What the live sync spends of an idle base's API budget, per hour, and on what.

Measured, not estimated, one piece at a time from the sandbox's request counters (the token's: every request,
metadata included):

- **the applier** (``webhooks apply --follow``, with the receiver and the outbound pusher beside it): a window of
  wall time on the idle base, extrapolated to an hour;
- **each Dagster sensor and schedule**: one tick measured and multiplied by its ticks per hour. A tick is the
  sensor's evaluation (in-process, ``build_sensor_context`` on the code location's own definitions and resources)
  plus, for the poll and computed-refresh sensors, the run it requests, if it requests one, executed in-process
  (``execute_in_process`` of the sensor's own target: the table's asset with the checks a poll runs). Before each
  pass every run's end is moved an hour back, so each poll and refresh is due by age and the tick decides on what
  changed. Two passes: the first settles what the benchmark's own users changed (a refresh of the tables whose
  computed cells read the users), the second is the idle base, and the figure.
- the nightly ``cutover_gates`` are not re-run here (1,000+ requests, 5 minutes): their cost is taken from
  ``benchmarks/results/checks.json`` and said so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import requests

from benchmarks.full_sync import TOKEN

CHECKS_RESULTS = Path("benchmarks/results/checks.json")
SECONDS_PER_HOUR = 3600.0
NIGHTLY_RUNS_PER_HOUR = 1 / 24


def token_served(sandbox_url: str) -> int:
    stats = requests.get(f"{sandbox_url}/_sandbox/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    return int(stats.json()["token"]["served"])


def counted(sandbox_url: str, action: Callable[[], Any]) -> tuple[int, float, Any]:
    """Requests the sandbox served during ``action``, its seconds, and its result."""
    before, started = token_served(sandbox_url), time.monotonic()
    result = action()
    return token_served(sandbox_url) - before, time.monotonic() - started, result


def applier_window(sandbox_url: str, seconds: float) -> dict:
    before = token_served(sandbox_url)
    time.sleep(seconds)
    spent = token_served(sandbox_url) - before
    return {
        "what": "webhook applier idle passes (receiver, pusher beside it)",
        "window_s": seconds,
        "every": f"{seconds:.0f} s window",
        "requests": spent,
        "per_hour": spent * SECONDS_PER_HOUR / seconds,
    }


def age_runs(database_url: str) -> None:
    """Every run as if it had ended an hour ago (their starts, which say what a refresh read, stay)."""
    import psycopg

    from airtable_pg.postgres.database import libpq_url

    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("update airtable_sync.sync_run set finished_at = finished_at - interval '1 hour'")


def requested_runs(result: Any) -> int:
    from dagster import RunRequest, SensorResult

    if isinstance(result, RunRequest):
        return 1
    return len(result.run_requests or []) if isinstance(result, SensorResult) else 0


def measure_ticks(sandbox_url: str, database_url: str) -> dict[str, list[dict]]:
    """Two passes of one tick of every sensor and schedule (``settling``, then ``idle``); the environment must
    point at the stack."""
    passes = {}
    for name in ("settling", "idle"):
        age_runs(database_url)
        passes[name] = measure_ticks_once(sandbox_url)
    return passes


def measure_ticks_once(sandbox_url: str) -> list[dict]:
    """One tick of every sensor and schedule of the code location."""
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from airtable_pg.definitions import defs
    from airtable_pg.defs.polls import (
        COMPUTED_REFRESH,
        POLL,
        mode_run_config,
        poll_sensor_name,
        refresh_sensor_name,
        sync_tags,
    )
    from airtable_pg.settings import load_settings
    from airtable_pg.spec import load_spec

    spec = load_spec(load_settings(use_dev_stack=False).spec_path)
    by_sensor = {poll_sensor_name(base, table): (POLL, base, table) for base, table in spec.tables()}
    by_sensor |= {refresh_sensor_name(base, table): (COMPUTED_REFRESH, base, table) for base, table in spec.tables()}
    resources = dict(defs.resources or {})
    rows = []
    with DagsterInstance.get() as instance:
        for sensor in defs.sensors:
            resolved = defs.resolve_sensor_def(sensor.name)

            def evaluate(resolved=resolved) -> Any:
                with build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
                    return resolved(context)

            requests_, seconds, result = counted(sandbox_url, evaluate)
            row = {"what": f"sensor {sensor.name}", "interval_s": resolved.minimum_interval_seconds,
                   "every": f"{resolved.minimum_interval_seconds} s",
                   "evaluation_requests": requests_, "requests": requests_, "seconds": seconds,
                   "evaluation": _outcome(result, SensorResult)}  # fmt: skip
            if sensor.name in by_sensor and requested_runs(result):  # the run its tick requested
                trigger, base, table = by_sensor[sensor.name]
                job = defs.resolve_job_def(resolved.job_name)
                run_requests, run_seconds, run = counted(
                    sandbox_url,
                    partial(job.execute_in_process, run_config=mode_run_config(base, table, trigger.mode),
                            instance=instance, tags=sync_tags(base, table, trigger), raise_on_error=False),
                )  # fmt: skip
                row |= {"run_requests": run_requests, "requests": requests_ + run_requests,
                        "seconds": seconds + run_seconds, "run_success": run.success}  # fmt: skip
            row["per_hour"] = row["requests"] * SECONDS_PER_HOUR / row["interval_s"]
            rows.append(row)
    rows.append(nightly_gates())
    return rows


def nightly_gates() -> dict:
    """The nightly cutover gates' cost, from the checks benchmark (not re-run: 1,000+ requests)."""
    measured = json.loads(CHECKS_RESULTS.read_text())["checks"]
    spent = sum(check["requests"] for check in measured["checks"].values())
    return {
        "what": "schedule cutover_gates_schedule (from benchmarks/results/checks.json, not re-run)",
        "requests": spent,
        "every": "night",
        "per_hour": spent * NIGHTLY_RUNS_PER_HOUR,
        "records": measured["records"],
    }


def _outcome(result: Any, sensor_result: type) -> str:
    if result is None:
        return "nothing"
    if isinstance(result, sensor_result):
        return f"{len(result.run_requests or [])} run request(s), {len(result.asset_events or [])} event(s)"
    return type(result).__name__
