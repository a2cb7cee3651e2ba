"""The metrics, computed once from the state schema: what ``/metrics`` serves and the alerter evaluates.

No process keeps a counter of its own: every figure is read from Postgres at scrape time (``postgres.metrics_state``),
so the receiver, ``airtable-pg metrics`` and the Dagster alerter see the same numbers whichever process applied the
changes, and a restart loses nothing. Labels are the spec's base and table keys (bounded by the spec), a lane,
a direction or a source: never a record id. A table or base the spec does not name is left out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from airtable_pg.airtable.types import ATTACHMENT_TYPE
from airtable_pg.postgres.metrics_state import ArchiveRow, StateSnapshot, read_snapshot
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec

# Bounds around the SLO (p95 ≤ 15 s, p99 ≤ 60 s): client_python's default buckets end at 10 s. The observability
# revision's trigger counts into exactly these (a test keeps the two equal).
LATENCY_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600)

PREFIX = "airtable_pg_"
T = TypeVar("T")


@dataclass(frozen=True)
class Scrape:
    """One read of the state schema turned into metric families, with what it cost."""

    families: list[Metric]
    seconds: float
    queries: int
    ok: bool


def scrape(db: sa.Engine, spec: SyncSpec) -> Scrape:
    """Read the state schema once and build every family; a failed read yields ``airtable_pg_up 0`` and no
    partial figures (a gauge that silently vanished would look like a recovery to an alert)."""
    started = time.perf_counter()
    try:
        with transaction(db) as cur:
            snapshot = read_snapshot(cur)
    except Exception:  # noqa: BLE001 - whatever failed, the scrape reports it as up 0; the exporter keeps serving
        seconds = time.perf_counter() - started
        return Scrape(_exporter_families(ok=False, seconds=seconds, queries=0), seconds, 0, ok=False)
    families = list(families_from(snapshot, spec))
    seconds = time.perf_counter() - started
    return Scrape(families + _exporter_families(True, seconds, snapshot.queries), seconds, snapshot.queries, True)


def _exporter_families(ok: bool, seconds: float, queries: int) -> list[Metric]:
    up = GaugeMetricFamily(PREFIX + "up", "1 when the state schema could be read at this scrape, else 0.")
    up.add_metric([], 1.0 if ok else 0.0)
    duration = GaugeMetricFamily(PREFIX + "scrape_duration_seconds", "How long reading the state schema took.")
    duration.add_metric([], seconds)
    count = GaugeMetricFamily(PREFIX + "scrape_queries", "Queries this scrape ran against Postgres.")
    count.add_metric([], float(queries))
    return [up, duration, count]


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else max((now - moment).total_seconds(), 0.0)


def freshness_age(snapshot: StateSnapshot, base: BaseSpec, table: TableSpec) -> float | None:
    """Seconds since the later of the table's last applied live change, completed sync, or (once the table has been
    synced at all) its base's last webhook pass: the freshness check's rule. ``None``: never synced."""
    state = snapshot.tables.get((base.id, table.id))
    moments = [
        *((state.last_full_sync_at, state.last_incremental_sync_at) if state else ()),
        *(s.last_applied_at for (b, t, _), s in snapshot.latency.items() if (b, t) == (base.id, table.id)),
    ]
    if not any(moments):
        return None
    hook = snapshot.webhooks.get(base.id)
    if hook is not None:
        moments.append(hook.last_applied_at)
    return _age(snapshot.now, max(m for m in moments if m is not None))


def families_from(snapshot: StateSnapshot, spec: SyncSpec) -> Iterator[Metric]:
    yield from _table_families(snapshot, spec)
    yield from _probe_families(snapshot, spec)
    yield _latency_family(snapshot, spec)
    yield from _base_families(snapshot, spec)
    yield from _archive_families(snapshot, spec)
    yield _checks_family(snapshot, spec)
    yield _alerter_family(snapshot)
    yield from _dagster_families(snapshot)


def missing_age(snapshot: StateSnapshot, base: BaseSpec, table: TableSpec) -> float | None:
    """Seconds since Airtable created the oldest record the table's last poll probe saw in Airtable and not in the
    mirror, while the mirror still lacks it (0: the last probe found none, or it has landed since); ``None``: no
    probe yet (the poll sensors run under Dagster)."""
    state = snapshot.tables.get((base.id, table.id))
    probe = state.probe if state is not None else None
    if probe is None:
        return None
    if not probe.still_missing or probe.oldest_created_at is None:
        return 0.0
    return _age(snapshot.now, probe.oldest_created_at)


def _probe_families(snapshot: StateSnapshot, spec: SyncSpec) -> Iterator[Metric]:
    labels = ["base", "table", "lane"]
    missing = GaugeMetricFamily(
        PREFIX + "table_missing_records",
        "Records the last poll probe saw in Airtable's first page of changes and not live in the mirror.",
        labels=labels,
    )
    oldest = GaugeMetricFamily(
        PREFIX + "table_missing_oldest_age_seconds",
        "Seconds since Airtable created the oldest of them, while the mirror still lacks it (0: none).",
        labels=labels,
    )
    probed = GaugeMetricFamily(
        PREFIX + "table_probe_age_seconds", "Seconds since the table's poll sensor last probed Airtable.", labels=labels
    )
    for base, table in spec.tables():
        state = snapshot.tables.get((base.id, table.id))
        if state is None or state.probe is None:
            continue
        values = [base.key, table.key, table.lane]
        missing.add_metric(values, float(state.probe.missing))
        oldest.add_metric(values, missing_age(snapshot, base, table) or 0.0)
        probed.add_metric(values, _age(snapshot.now, state.probe.checked_at))
    yield from (missing, oldest, probed)


def _archive_families(snapshot: StateSnapshot, spec: SyncSpec) -> Iterator[Metric]:
    backlog = GaugeMetricFamily(
        PREFIX + "archive_backlog", "Live attachments without a verified copy yet (pending).", labels=["base"]
    )
    failed = GaugeMetricFamily(
        PREFIX + "archive_failed", "Live attachments whose copy failed for good (after the archive's attempts).",
        labels=["base"],
    )  # fmt: skip
    oldest = GaugeMetricFamily(
        PREFIX + "archive_backlog_oldest_age_seconds",
        "Seconds since the archive first saw the oldest attachment still waiting for its copy (0: none).",
        labels=["base"],
    )
    for base in spec.bases.values():
        if not any(f.type == ATTACHMENT_TYPE for t in base.tables.values() for f in t.fields.values()):
            continue  # a base without attachment fields has no archive
        row = snapshot.archive.get(base.id, ArchiveRow(0, 0, None))
        backlog.add_metric([base.key], float(row.backlog))
        failed.add_metric([base.key], float(row.failed))
        oldest.add_metric([base.key], _age(snapshot.now, row.oldest_pending_at) or 0.0)
    yield from (backlog, failed, oldest)


def _dagster_families(snapshot: StateSnapshot) -> Iterator[Metric]:
    runs = CounterMetricFamily(
        PREFIX + "dagster_runs_failed",
        "Failed Dagster runs of this code location, by job (as its run-failure sensor recorded them; retried ones "
        "included).",
        labels=["job"],
    )
    for job, count in sorted(snapshot.runs_failed.items()):
        runs.add_metric([job], float(count))
    ticks = CounterMetricFamily(
        PREFIX + "dagster_sensor_ticks_failed", "Failed ticks of this code location's sensors.", labels=["sensor"]
    )
    failing = GaugeMetricFamily(
        PREFIX + "dagster_sensor_failing", "1 when the sensor's latest tick failed, else 0.", labels=["sensor"]
    )
    for sensor, row in sorted(snapshot.sensors.items()):
        ticks.add_metric([sensor], float(row.failed_ticks))
        failing.add_metric([sensor], 1.0 if row.failing else 0.0)
    yield from (runs, ticks, failing)


def _alerter_family(snapshot: StateSnapshot) -> Metric:
    family = GaugeMetricFamily(
        PREFIX + "alerter_last_evaluation_age_seconds",
        "Seconds since the built-in alerter (Dagster's alerts sensor) last evaluated: its heartbeat.",
        labels=["alerter"],
    )
    for alerter, moment in sorted(snapshot.alerters.items()):
        family.add_metric([alerter], _age(snapshot.now, moment))
    return family


def _table_families(snapshot: StateSnapshot, spec: SyncSpec) -> Iterator[Metric]:
    labels = ["base", "table", "lane"]
    rows = GaugeMetricFamily(PREFIX + "table_rows", "Live rows in the mirror after the last sync.", labels=labels)
    age = GaugeMetricFamily(
        PREFIX + "table_freshness_age_seconds",
        "Seconds since the later of the last applied change, completed sync or webhook pass (absent: never synced).",
        labels=labels,
    )
    bound = GaugeMetricFamily(
        PREFIX + "table_freshness_bound_seconds", "The table's freshness bound (the spec's, or its lane's).",
        labels=labels,
    )  # fmt: skip
    full = GaugeMetricFamily(
        PREFIX + "table_last_full_sync_age_seconds", "Seconds since the last completed full sync.", labels=labels
    )
    outbox = GaugeMetricFamily(
        PREFIX + "outbox_pending", "Postgres changes not yet pushed to Airtable.", labels=["base", "table"]
    )
    outbox_age = GaugeMetricFamily(
        PREFIX + "outbox_oldest_age_seconds",
        "Seconds the oldest unpushed change has waited (0: none waiting).",
        labels=["base", "table"],
    )
    tombstones = GaugeMetricFamily(
        PREFIX + "table_tombstones", "Rows tombstoned (deleted in Airtable) in the mirror after the last sync run.",
        labels=labels,
    )  # fmt: skip
    cell_errors = GaugeMetricFamily(
        PREFIX + "table_cell_errors",
        "Cells of live rows their typed column cannot hold (kept raw in fields), after the last full sync.",
        labels=labels,
    )
    for base, table in spec.tables():
        values = [base.key, table.key, table.lane]
        state = snapshot.tables.get((base.id, table.id))
        if state is not None and state.rows is not None:
            rows.add_metric(values, float(state.rows))
        seconds = freshness_age(snapshot, base, table)
        if seconds is not None:
            age.add_metric(values, seconds)
        bound.add_metric(values, float(table.freshness_bound_seconds))
        if state is not None and state.last_full_sync_at is not None:
            full.add_metric(values, _age(snapshot.now, state.last_full_sync_at))
        if state is not None and state.tombstones is not None:
            tombstones.add_metric(values, float(state.tombstones))
        if state is not None and state.cell_errors is not None:
            cell_errors.add_metric(values, float(state.cell_errors))
        pending, oldest = snapshot.outbox.get((base.id, table.id), (0, None))
        if table.is_postgres_authoritative or pending:
            outbox.add_metric([base.key, table.key], float(pending))
            outbox_age.add_metric([base.key, table.key], _age(snapshot.now, oldest) or 0.0)
    yield from (rows, age, bound, full, outbox, outbox_age, tombstones, cell_errors)


def _latency_family(snapshot: StateSnapshot, spec: SyncSpec) -> Metric:
    family = HistogramMetricFamily(
        PREFIX + "change_latency_seconds",
        "Airtable's change → committed in Postgres, per live change (webhook or poll; full syncs are not live).",
        labels=["base", "table", "lane", "source"],
    )
    for base, table, source, series in _per_table(snapshot.latency, spec):
        buckets = [(_le(le), float(n)) for le, n in sorted(series.buckets.items())]
        if not buckets or buckets[-1][0] != "+Inf":
            buckets.append(("+Inf", float(series.count)))
        family.add_metric([base.key, table.key, table.lane, source], buckets, series.seconds_sum)
    return family


def _per_table(rows: dict[tuple[str, str, str], T], spec: SyncSpec) -> Iterator[tuple[BaseSpec, TableSpec, str, T]]:
    """Rows keyed (base id, table id, third key) of the spec's tables, in spec order: others are left out."""
    tables = {(base.id, table.id): (base, table) for base, table in spec.tables()}
    order = {key: i for i, key in enumerate(tables)}
    mine = [(key, row) for key, row in rows.items() if key[:2] in tables]
    for (base_id, table_id, third), row in sorted(mine, key=lambda item: (order[item[0][:2]], item[0][2])):
        yield (*tables[(base_id, table_id)], third, row)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _base_families(snapshot: StateSnapshot, spec: SyncSpec) -> Iterable[Metric]:
    waiting = GaugeMetricFamily(
        PREFIX + "notifications_waiting", "Webhook notifications not yet answered by an applier pass.", labels=["base"]
    )
    waiting_age = GaugeMetricFamily(
        PREFIX + "notifications_oldest_age_seconds",
        "Seconds the oldest waiting notification has waited (0: none waiting).",
        labels=["base"],
    )
    letters = GaugeMetricFamily(
        PREFIX + "dead_letters_open", "Dead letters waiting for triage.", labels=["base", "direction"]
    )
    created = CounterMetricFamily(
        PREFIX + "dead_letters_created", "Dead letters ever created (replayed and discarded included).",
        labels=["base", "direction"],
    )  # fmt: skip
    healthy = GaugeMetricFamily(
        PREFIX + "webhook_healthy", "1 when the base's webhook has no error since its last pass, else 0.",
        labels=["base"],
    )  # fmt: skip
    expiry = GaugeMetricFamily(
        PREFIX + "webhook_expiry_seconds", "Seconds until the base's webhook expires (negative: expired).",
        labels=["base"],
    )  # fmt: skip
    lanes = ["base", "lane"]
    requests = CounterMetricFamily(
        PREFIX + "airtable_requests",
        "Requests to Airtable, by lane (fast: the fast-lane tables'; outbound: the pusher's; standard: the rest).",
        labels=lanes,
    )
    throttled = CounterMetricFamily(
        PREFIX + "airtable_throttled", "Airtable's 429 answers (each stops the base for 30 s), by lane.", labels=lanes
    )
    server_errors = CounterMetricFamily(
        PREFIX + "airtable_server_errors", "Airtable's 5xx answers (each retried, or given up on), by lane.",
        labels=lanes,
    )  # fmt: skip
    for base in spec.bases.values():
        count, oldest = snapshot.waiting.get(base.id, (0, None))
        waiting.add_metric([base.key], float(count))
        waiting_age.add_metric([base.key], _age(snapshot.now, oldest) or 0.0)
        for direction in ("inbound", "outbound"):
            letters.add_metric([base.key, direction], float(snapshot.dead_letters_open.get((base.id, direction), 0)))
            created.add_metric([base.key, direction], float(snapshot.dead_letters_created.get((base.id, direction), 0)))
        hook = snapshot.webhooks.get(base.id)
        if hook is not None:
            healthy.add_metric([base.key], 1.0 if hook.healthy else 0.0)
            if hook.expires_at is not None:
                expiry.add_metric([base.key], (hook.expires_at - snapshot.now).total_seconds())
        rate = snapshot.rate.get(base.id)
        if rate is not None:
            for lane, (sent, throttles, errors) in rate.by_lane().items():
                requests.add_metric([base.key, lane], float(sent))
                throttled.add_metric([base.key, lane], float(throttles))
                server_errors.add_metric([base.key, lane], float(errors))
    return (waiting, waiting_age, letters, created, healthy, expiry, requests, throttled, server_errors)


def _checks_family(snapshot: StateSnapshot, spec: SyncSpec) -> Metric:
    family = GaugeMetricFamily(
        PREFIX + "check_failing",
        "1 when the check's latest result failed, else 0 (severity error: a blocking cutover gate).",
        labels=["base", "table", "check", "severity"],
    )
    for base, table, check, row in _per_table(snapshot.checks, spec):
        family.add_metric([base.key, table.key, check, row.severity], 0.0 if row.passed else 1.0)
    return family


class StateCollector(Collector):
    """A prometheus-client collector reading the state schema at each scrape. ``describe()`` answers without a
    query, so registering it (the default registry describes at registration) touches no database."""

    def __init__(self, db: sa.Engine, spec: SyncSpec) -> None:
        self._db = db
        self._spec = spec

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from scrape(self._db, self._spec).families


def state_registry(db: sa.Engine, spec: SyncSpec) -> CollectorRegistry:
    """A registry of its own holding only the state collector: no process metrics of whichever process serves it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(db, spec))
    return registry
