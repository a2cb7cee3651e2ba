"""What ``/metrics``, ``status --json`` and the alerter read from the state schema: one bounded read.

Every query here touches a handful of rows per table or base whatever the size of the mirror: the latency
histogram is kept by a trigger (``change_latency_bucket``, the observability revision) instead of being counted
from ``change_event``, the queues are read through their partial indexes (``inbox_pending``, ``outbox_due``,
``dead_letter_open``), and the rest are one-row-per-table or per-base tables. Ages are computed against the
database's ``now()`` so a skewed exporter clock cannot make a queue look old or young. ``statement_timeout``
bounds a scrape that meets a locked or slow database: the scrape fails (``airtable_pg_up 0``) instead of piling up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import psycopg
from psycopg import Cursor, sql

from airtable_pg.postgres.sync_state import state_table

STATEMENT_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class TableRow:
    rows: int | None
    last_full_sync_at: datetime | None
    last_incremental_sync_at: datetime | None
    tombstones: int | None = None  # after the last sync run (None: no run since the metrics revision)
    cell_errors: int | None = None
    probe: ProbeRow | None = None  # the poll sensor's last look at Airtable
    mirror: tuple[str, str] = ("", "")  # the mirror table's schema and name


@dataclass(frozen=True)
class ProbeRow:
    """What the poll sensor's last probe saw: records on Airtable's first page the mirror lacked, and of those the
    one created first; ``still_missing`` is whether the mirror still lacks it now (read at this scrape)."""

    checked_at: datetime
    missing: int
    oldest_record_id: str | None
    oldest_created_at: datetime | None
    still_missing: bool = True  # until a scrape finds it in the mirror


@dataclass(frozen=True)
class LatencySeries:
    """One table's and source's cumulative histogram: ``buckets`` maps each bound ``le`` (seconds) to a count."""

    buckets: dict[float, int]
    count: int
    seconds_sum: float
    last_applied_at: datetime | None


@dataclass(frozen=True)
class WebhookRow:
    expires_at: datetime | None
    last_notification_at: datetime | None
    last_applied_at: datetime | None
    healthy: bool  # no error recorded since the last successful pass


@dataclass(frozen=True)
class RateRow:
    """A base's counters; ``requests``, ``throttled`` and ``server_errors`` are every lane's, the rest per lane."""

    requests: int
    fast_requests: int
    throttled: int
    server_errors: int
    outbound_requests: int = 0
    fast_throttled: int = 0
    outbound_throttled: int = 0
    fast_server_errors: int = 0
    outbound_server_errors: int = 0

    def by_lane(self) -> dict[str, tuple[int, int, int]]:
        """Lane → (requests, 429s, 5xx); the standard lane's are the totals less the other lanes'."""
        fast = (self.fast_requests, self.fast_throttled, self.fast_server_errors)
        outbound = (self.outbound_requests, self.outbound_throttled, self.outbound_server_errors)
        totals = (self.requests, self.throttled, self.server_errors)
        standard = tuple(t - f - o for t, f, o in zip(totals, fast, outbound, strict=True))
        return {"fast": fast, "standard": standard, "outbound": outbound}  # type: ignore[dict-item]


@dataclass(frozen=True)
class ArchiveRow:
    backlog: int  # live attachments not yet copied
    failed: int  # live attachments whose copy gave up (after the archive's attempts)
    oldest_pending_at: datetime | None


@dataclass(frozen=True)
class SensorRow:
    failed_ticks: int
    failing: bool


@dataclass(frozen=True)
class CheckRow:
    passed: bool
    severity: str
    checked_at: datetime


@dataclass
class StateSnapshot:
    """The state schema at one moment (``now``, the database's clock); keys are Airtable base and table ids."""

    now: datetime
    queries: int = 0
    tables: dict[tuple[str, str], TableRow] = field(default_factory=dict)
    latency: dict[tuple[str, str, str], LatencySeries] = field(default_factory=dict)  # (base, table, source)
    waiting: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # base → (count, oldest received)
    outbox: dict[tuple[str, str], tuple[int, datetime]] = field(default_factory=dict)  # pending, oldest change
    dead_letters_open: dict[tuple[str, str], int] = field(default_factory=dict)  # (base, direction)
    dead_letters_created: dict[tuple[str, str], int] = field(default_factory=dict)  # (base, direction), ever
    webhooks: dict[str, WebhookRow] = field(default_factory=dict)
    rate: dict[str, RateRow] = field(default_factory=dict)
    checks: dict[tuple[str, str, str], CheckRow] = field(default_factory=dict)  # (base, table, check)
    alerters: dict[str, datetime] = field(default_factory=dict)  # the built-in alerter's last evaluation
    archive: dict[str, ArchiveRow] = field(default_factory=dict)  # base → the archive's backlog
    runs_failed: dict[str, int] = field(default_factory=dict)  # Dagster job → failed runs ever
    sensors: dict[str, SensorRow] = field(default_factory=dict)  # Dagster sensor → its ticks


def read_snapshot(cur: Cursor) -> StateSnapshot:
    """The whole snapshot, in the caller's transaction (one consistent ``now()``), in a fixed number of queries."""
    cur.execute(sql.SQL("set local statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT_MS)))
    cur.execute("select now()")
    snapshot = StateSnapshot(now=cur.fetchone()[0])
    queries = [_tables, _latency, _waiting, _outbox, _dead_letters, _webhooks, _rate, _checks, _alerters, _archive,
               _dagster]  # fmt: skip
    for query in queries:
        query(cur, snapshot)
    snapshot.queries = len(queries) + 1 + _still_missing(cur, snapshot)
    return snapshot


def _tables(cur: Cursor, snapshot: StateSnapshot) -> None:
    cur.execute(
        sql.SQL(
            "select base_id, table_id, row_count, last_full_sync_completed_at, last_incremental_sync_at, tombstones, "
            "cell_errors, probe_checked_at, probe_missing, probe_missing_record_id, probe_missing_created_at, "
            "mirror_schema, mirror_table from {}"
        ).format(state_table("table_state"))
    )
    for row in cur.fetchall():
        base_id, table_id, rows, full, incremental, tombstones, errors, checked, missing, oldest, created = row[:11]
        probe = None if checked is None else ProbeRow(checked, missing or 0, oldest, created)
        snapshot.tables[(base_id, table_id)] = TableRow(
            rows, full, incremental, tombstones, errors, probe, mirror=(row[11], row[12])
        )


def _still_missing(cur: Cursor, snapshot: StateSnapshot) -> int:
    """Whether each record a probe found missing is still missing from its mirror now: one index lookup (the unique
    ``airtable_id``) per table with such a record, all in one query; none when no probe found one. Returns the
    queries run."""
    pending = [(key, row) for key, row in snapshot.tables.items() if row.probe and row.probe.oldest_record_id]
    if not pending:
        return 0
    query = sql.SQL(" union all ").join(
        sql.SQL("select {}, {}, not exists (select 1 from {} where airtable_id = {} and deleted_at is null)").format(
            sql.Literal(key[0]),
            sql.Literal(key[1]),
            sql.Identifier(*row.mirror),
            sql.Literal(row.probe.oldest_record_id),  # type: ignore[union-attr]
        )
        for key, row in pending
    )
    try:
        with cur.connection.transaction():  # a savepoint: a mirror table gone (a spec changed) fails this alone
            cur.execute(query)
            found = cur.fetchall()
    except psycopg.Error:
        return 1  # the probe's record stands as it was seen: still missing
    for base_id, table_id, missing in found:
        row = snapshot.tables[(base_id, table_id)]
        snapshot.tables[(base_id, table_id)] = replace(row, probe=replace(row.probe, still_missing=missing))
    return 1


def _latency(cur: Cursor, snapshot: StateSnapshot) -> None:
    # One query for both tables: the summary row and its buckets, aggregated by key (a few dozen rows).
    cur.execute(
        sql.SQL(
            "select l.base_id, l.table_id, l.source, l.observations, l.seconds_sum, l.last_applied_at, "
            "coalesce((select array_agg(array[b.le, b.observations::double precision] order by b.le) from {buckets} b "
            "where b.base_id = l.base_id and b.table_id = l.table_id and b.source = l.source), '{{}}') "
            "from {summary} l"
        ).format(buckets=state_table("change_latency_bucket"), summary=state_table("change_latency"))
    )
    for base_id, table_id, source, count, total, last, buckets in cur.fetchall():
        snapshot.latency[(base_id, table_id, source)] = LatencySeries(
            {le: int(n) for le, n in buckets}, count, total, last
        )


def _waiting(cur: Cursor, snapshot: StateSnapshot) -> None:
    cur.execute(
        sql.SQL(
            "select base_id, count(*), min(received_at) from {} where processed_at is null group by base_id"
        ).format(state_table("inbox"))
    )
    snapshot.waiting = {base_id: (count, oldest) for base_id, count, oldest in cur.fetchall()}


def _outbox(cur: Cursor, snapshot: StateSnapshot) -> None:
    cur.execute(
        sql.SQL(
            "select base_id, table_id, count(*), min(changed_at) from {} where status = 'pending' group by 1, 2"
        ).format(state_table("outbox"))
    )
    snapshot.outbox = {(base_id, table_id): (count, oldest) for base_id, table_id, count, oldest in cur.fetchall()}


def _dead_letters(cur: Cursor, snapshot: StateSnapshot) -> None:
    # Dead letters are never deleted (triage sets a status), so the count of all rows is a true counter.
    cur.execute(
        sql.SQL(
            "select base_id, direction, count(*) filter (where status = 'open'), count(*) from {} group by 1, 2"
        ).format(state_table("dead_letter"))
    )
    for base_id, direction, open_count, total in cur.fetchall():
        snapshot.dead_letters_open[(base_id, direction)] = open_count
        snapshot.dead_letters_created[(base_id, direction)] = total


def _webhooks(cur: Cursor, snapshot: StateSnapshot) -> None:
    cur.execute(
        sql.SQL("select base_id, expires_at, last_notification_at, last_applied_at, last_error is null from {}").format(
            state_table("webhook")
        )
    )
    for base_id, expires, notified, applied, healthy in cur.fetchall():
        snapshot.webhooks[base_id] = WebhookRow(expires, notified, applied, healthy)


def _rate(cur: Cursor, snapshot: StateSnapshot) -> None:
    # Rows keyed 'token:<fingerprint>' are per-token buckets, not bases: not a label anyone could read.
    cur.execute(
        sql.SQL(
            "select base_id, requests, fast_requests, throttled, server_errors, outbound_requests, fast_throttled, "
            "outbound_throttled, fast_server_errors, outbound_server_errors from {} where base_id not like 'token:%'"
        ).format(state_table("rate_limit"))
    )
    for base_id, *counters in cur.fetchall():
        snapshot.rate[base_id] = RateRow(*counters)


def _checks(cur: Cursor, snapshot: StateSnapshot) -> None:
    cur.execute(
        sql.SQL("select base_id, table_id, check_name, passed, severity, checked_at from {}").format(
            state_table("check_result")
        )
    )
    for base_id, table_id, check, passed, severity, checked_at in cur.fetchall():
        snapshot.checks[(base_id, table_id, check)] = CheckRow(passed, severity, checked_at)


def _alerters(cur: Cursor, snapshot: StateSnapshot) -> None:
    cur.execute(sql.SQL("select alerter, evaluated_at from {}").format(state_table("alert_evaluation")))
    snapshot.alerters = dict(cur.fetchall())


def _archive(cur: Cursor, snapshot: StateSnapshot) -> None:
    # Through the partial index of live attachments without a copy: it reads the backlog, never the archived ones.
    cur.execute(
        sql.SQL(
            "select base_id, count(*) filter (where status = 'pending'), count(*) filter (where status = 'failed'), "
            "min(first_seen_at) filter (where status = 'pending') from {} "
            "where status <> 'archived' and tombstoned_at is null group by base_id"
        ).format(state_table("attachment"))
    )
    snapshot.archive = {base_id: ArchiveRow(*figures) for base_id, *figures in cur.fetchall()}


def _dagster(cur: Cursor, snapshot: StateSnapshot) -> None:
    # What the code location's sensors recorded of Dagster's own failures: a row per failed run (few), a row per
    # sensor. One query for both, told apart by their first column.
    cur.execute(
        sql.SQL(
            "select 'run', job_name, count(*), false from {runs} group by job_name "
            "union all select 'sensor', sensor, failed_ticks, failing from {sensors}"
        ).format(runs=state_table("dagster_run_failure"), sensors=state_table("dagster_sensor_tick"))
    )
    for kind, name, count, failing in cur.fetchall():
        if kind == "run":
            snapshot.runs_failed[name] = count
        else:
            snapshot.sensors[name] = SensorRow(count, failing)
