"""The safety poll: one Dagster sensor per table, asking Airtable at the spec's interval whether anything changed.

Webhooks carry every change, but a notification can be dropped and a hook can lapse; the poll heals both
without a person (records modified since the table's watermark, ``sync.incremental``). Each table has its own
sensor (``poll_<base>__<table>``, running by default) ticking every ``poll_interval_seconds`` (users: 60 s).

* A run only for work: each tick first makes the poll's first request inside the sensor
  (``SyncEngine.probe_poll``: one request, through the shared rate limiter and the table's lane). Only when
  that page holds a record the mirror lacks or holds differently does it request an incremental run; otherwise
  the tick records the poll (the watermark moves, so freshness holds), adds an asset observation and says
  "nothing changed since …". A dropped webhook notification is still applied within one interval.
* Runs say what triggered them: tags ``airtable_pg/trigger: poll``, ``airtable_pg/table: <base>.<table>`` and
  ``airtable_pg/sync: incremental``; fast-lane tables also get ``dagster/priority`` so the run queue dequeues
  them before a backfill's runs.
* Polls of one table never pile up: a tick skips while a poll of that table is queued or running, and the
  run key names the interval window, so a tick evaluated twice (a daemon restart) requests one run.
* The same machinery refreshes computed cells (``computed_refresh_<base>__<table>``, tag
  ``airtable_pg/trigger: computed_refresh``, run config ``mode: computed``) every ``computed_refresh_seconds``
  (fast lane 15 minutes, else hourly) for tables with formula, rollup, lookup or count fields: Airtable does
  not say when those change, so each refresh is a run. A tick skips the refresh, asking Postgres only, when
  nothing that can move the cells changed since they were last read: the spec's ``changes_with`` (from
  ``spec pull``) names the linked tables a lookup, rollup, count or formula reads, and ``time`` for ``NOW()``
  and ``TODAY()`` (those refresh on every interval, as do fields whose dependencies the spec does not know).
* A tick skips a table whose last full sync (or poll, or refresh) ended less than half an interval ago: right
  after an import, nothing is due. A table never synced is skipped: a poll of it would be a full first
  import, which stays a deliberate step (``Materialize all``, ``airtable-pg sync --full``, ``airtable-pg dev``).
* Targets are plain asset keys (the UI shows ``key:"airtable/<base>/<table>"``); which checks a run evaluates
  is named on each run request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetObservation,
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from airtable_pg.checks.runner import CHECKS
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.postgres import sync_state
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec
from airtable_pg.sync.incremental import PollProbe

TRIGGER_TAG = "airtable_pg/trigger"
TABLE_TAG = "airtable_pg/table"
SYNC_TAG = "airtable_pg/sync"
PRIORITY_TAG = "dagster/priority"  # read by the QueuedRunCoordinator: higher leaves the queue first
FAST_LANE_PRIORITY = "10"
# What a poll of a table waits for: its own earlier poll, still queued or running.
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def poll_sensor_name(base: BaseSpec, table: TableSpec, names: Names = DEFAULT) -> str:
    return names(f"poll_{base.key}__{table.key}")


def refresh_sensor_name(base: BaseSpec, table: TableSpec, names: Names = DEFAULT) -> str:
    return names(f"computed_refresh_{base.key}__{table.key}")


def table_label(base: BaseSpec, table: TableSpec, names: Names = DEFAULT) -> str:
    return names.table_label(base.key, table.key)


def sync_tags(base: BaseSpec, table: TableSpec, trigger: Trigger, names: Names = DEFAULT) -> dict[str, str]:
    tags = {TRIGGER_TAG: trigger.name, TABLE_TAG: table_label(base, table, names), SYNC_TAG: trigger.mode}
    if table.lane == "fast":
        tags[PRIORITY_TAG] = FAST_LANE_PRIORITY
    return tags


def mode_run_config(base: BaseSpec, table: TableSpec, mode: str, names: Names = DEFAULT) -> dict[str, Any]:
    """Run config of the table asset's op alone (the op is named after the asset key)."""
    op_name = "__".join(names.table_asset_key(base.key, table.key).path)
    return {"ops": {op_name: {"config": {"mode": mode}}}}


def build_poll_sensors(
    spec: SyncSpec, *, costly_checks: Collection[str] = frozenset(), names: Names = DEFAULT
) -> list[SensorDefinition]:
    """One poll sensor per table; its runs evaluate the table's gates except ``costly_checks`` (by name)."""
    return [_interval_sensor(spec, base, table, POLL, costly_checks, names) for base, table in spec.tables()]


def build_computed_refresh_sensors(spec: SyncSpec, names: Names = DEFAULT) -> list[SensorDefinition]:
    """One refresh of computed cells per table that has computed fields, every ``computed_refresh_seconds``."""
    every_check = frozenset(CHECKS)  # a refresh re-reads computed cells only: its gates run on their schedules
    return [
        _interval_sensor(spec, base, table, COMPUTED_REFRESH, every_check, names)
        for base, table in spec.tables()
        if table.computed_field_ids
    ]


@dataclass(frozen=True)
class Trigger:
    name: str  # the airtable_pg/trigger tag, and the sensor's name prefix
    mode: str  # the asset's run config mode
    describe: Callable[[str, int], str]
    interval: Callable[[TableSpec], int]
    covered_by: tuple[str, ...]  # sync_run kinds whose recent success makes this run needless


POLL = Trigger(
    "poll",
    "incremental",
    lambda label, every: (
        f"Safety poll of {label} every {every} s: an incremental sync (records modified since the "
        "watermark), healing a dropped webhook notification or a lapsed hook."
    ),
    lambda table: table.poll_interval_seconds,
    ("full", "incremental"),
)
COMPUTED_REFRESH = Trigger(
    "computed_refresh",
    "computed",
    lambda label, every: (
        f"Refresh of {label}'s computed cells every {every} s (formula, rollup, lookup and count "
        "values that change without their record changing)."
    ),
    lambda table: table.computed_refresh_interval,
    ("full", "computed"),
)


def _interval_sensor(
    spec: SyncSpec,
    base: BaseSpec,
    table: TableSpec,
    trigger: Trigger,
    skipped_checks: Collection[str],
    names: Names,
) -> SensorDefinition:
    interval = trigger.interval(table)
    label = table_label(base, table, names)
    asset_key = names.table_asset_key(base.key, table.key)
    run_checks = [AssetCheckKey(asset_key, name) for name in CHECKS if name not in skipped_checks]

    @sensor(
        name=names(f"{trigger.name}_{base.key}__{table.key}"),
        target=AssetSelection.assets(asset_key),
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        description=trigger.describe(label, interval),
        tags={"lane": table.lane},
        required_resource_keys={names.resource},
    )
    def request_sync(context: SensorEvaluationContext, **_resources: object) -> RunRequest | SkipReason | SensorResult:
        # The resource is read from the context; a sensor called directly (tests) also gets it as a keyword.
        in_flight = context.instance.get_run_records(
            RunsFilter(tags={TABLE_TAG: label, TRIGGER_TAG: trigger.name}, statuses=IN_FLIGHT), limit=1
        )
        if in_flight:
            return SkipReason(f"a {trigger.name} of {label} is still {in_flight[0].dagster_run.status.value.lower()}")
        runtime = instance_resource(context, names).sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime  # one line on the tick; the next tick checks again
        with transaction(runtime.db) as cur:
            watermark = sync_state.read_watermark(cur, base, table)
            finished = sync_state.last_successes(cur, base, table)
        if watermark is None:
            return SkipReason(f"{label} was never fully synced: its first import is a deliberate step")
        recent = [finished[kind] for kind in trigger.covered_by if kind in finished]
        age = (datetime.now(UTC) - max(recent)).total_seconds() if recent else None
        if age is not None and age < interval / 2:  # half: a run that ended just after the last tick still counts
            return SkipReason(f"{label} was synced {age:.0f} s ago (a {trigger.name} is due every {interval} s)")
        if trigger is POLL:
            with runtime.sync_engine() as engine:
                probe = engine.probe_poll(base.key, table.key)
            if probe is not None and not probe.changed:
                return _nothing_changed(label, asset_key, probe)
        if trigger is COMPUTED_REFRESH:
            quiet = _no_computed_change(runtime.db, base, table, label)
            if quiet is not None:
                return quiet
        window = int(time.time() // interval)
        return RunRequest(
            run_key=f"{trigger.name}:{label}:{window}",
            run_config=mode_run_config(base, table, trigger.mode, names),
            tags=sync_tags(base, table, trigger, names),
            asset_selection=[asset_key],
            asset_check_keys=run_checks,
        )

    return request_sync


def _no_computed_change(db: sa.Engine, base: BaseSpec, table: TableSpec, label: str) -> SkipReason | None:
    """A refresh re-reads every record of the table: skip it when nothing that can move its computed cells changed
    since they were last read (the spec's ``changes_with``; the table's own records are the poll's and the hooks')."""
    watched = base.computed_refresh_watch(table)
    if watched is None:
        return None  # the clock moves them, or what moves them is not known: refresh on the interval
    if not watched:
        return SkipReason(f"{label}'s computed cells change only with their own records (the poll and webhooks)")
    with transaction(db) as cur:
        read_at = sync_state.computed_cells_read_at(cur, base, table)
        if read_at is None:
            return None
        changed = sync_state.tables_changed_since(cur, base.id, [t.id for t in watched], read_at)
    if changed:
        return None
    since = read_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return SkipReason(
        f"nothing {label}'s computed cells read changed since they were read at {since} "
        f"({', '.join(t.key for t in watched)})"
    )


def _nothing_changed(label: str, asset_key: AssetKey, probe: PollProbe) -> SensorResult:
    """The tick's own record of a quiet poll: an observation (it proves freshness) and a sentence."""
    assert probe.watermark is not None
    since = probe.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    already = f"; {probe.rows_seen} record(s) in the overlap were applied already" if probe.rows_seen else ""
    observation = AssetObservation(
        asset_key=asset_key,
        description="Poll: nothing changed in Airtable since the watermark (no run needed).",
        metadata={
            "mode": MetadataValue.text("poll"),
            "changed": MetadataValue.bool(False),
            "rows_seen": MetadataValue.int(probe.rows_seen),
            "requests": MetadataValue.int(probe.requests),
            "since": MetadataValue.timestamp(probe.since),
            "watermark": MetadataValue.timestamp(probe.watermark),
        },
    )
    return SensorResult(
        skip_reason=SkipReason(f"nothing changed in {label} since {since}{already}"), asset_events=[observation]
    )
