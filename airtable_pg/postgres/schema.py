"""Postgres tables as SQLAlchemy metadata, built from the sync spec.

This metadata is the single description of the schema: Alembic autogenerates migrations from it
(``airtable-pg db revision``), and the writers read table and column names from it. The app never
creates tables itself; migrations do.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from airtable_pg.mirror_model import FIXED_COLUMNS, PG_TYPES, FixedColumn
from airtable_pg.names import STATE_SCHEMA, fit
from airtable_pg.spec import BaseSpec, FieldSpec, SyncSpec, TableSpec

__all__ = [
    "STATE_SCHEMA",
    "add_mirror_tables",
    "add_state_tables",
    "build_metadata",
    "mirror_columns",
    "mirror_schemas",
    "schemas",
    "state_metadata",
]

_COLUMN_TYPES: dict[str, sa.types.TypeEngine] = {
    "text": sa.Text(),
    "bigint": sa.BigInteger(),
    "integer": sa.Integer(),
    "numeric": sa.Numeric(),
    "double precision": sa.Double(),
    "boolean": sa.Boolean(),
    "date": sa.Date(),
    "timestamptz": sa.DateTime(timezone=True),
    "text[]": pg.ARRAY(sa.Text()),
    "jsonb": pg.JSONB(),
}

if set(_COLUMN_TYPES) != set(PG_TYPES):  # a type added to the registry must get a column type first
    raise ImportError(f"column types and PG_TYPES disagree: {sorted(set(_COLUMN_TYPES) ^ set(PG_TYPES))}")

NOW = sa.text("now()")


def column_type(pg_type: str) -> sa.types.TypeEngine:
    return _COLUMN_TYPES[pg_type]


def add_state_tables(metadata: sa.MetaData) -> None:
    """The ``airtable_sync`` schema: every piece of sync state lives here, never in a process."""
    s = STATE_SCHEMA
    sa.Table(
        "rate_limit",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("next_slot", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("blocked_until", sa.DateTime(timezone=True)),
        sa.Column("requests", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("throttled", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column(
            "fast_next_slot",
            sa.DateTime(timezone=True),
            comment="Reserved slots before this moment are taken (by the fast lane, or lent to the standard lane).",
        ),
        sa.Column(
            "fast_requests",
            sa.BigInteger,
            nullable=False,
            server_default="0",
            comment="Requests of the fast lane (also counted in requests).",
        ),
        sa.Column(
            "slots",
            pg.ARRAY(sa.BigInteger),
            nullable=False,
            server_default="{}",
            comment="Future booked slots, in grid units since the epoch: a base's own, or every base's of a token.",
        ),
        sa.Column(
            "server_errors",
            sa.BigInteger,
            nullable=False,
            server_default="0",
            comment="Airtable's 5xx answers (each retried or given up on): the base's error rate beside requests.",
        ),
        *_lane_counters(),
        comment="Request buckets shared by every process: one per Airtable base (5 requests/s), one per token "
        "(50 requests/s, keyed token:<fingerprint>, never the token)",
        schema=s,
    )
    sa.Table(
        "table_state",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("mirror_schema", sa.Text, nullable=False),
        sa.Column("mirror_table", sa.Text, nullable=False),
        sa.Column("last_full_sync_started_at", sa.DateTime(timezone=True)),
        sa.Column("last_full_sync_completed_at", sa.DateTime(timezone=True)),
        sa.Column("last_incremental_sync_at", sa.DateTime(timezone=True)),
        sa.Column("poll_watermark", sa.DateTime(timezone=True)),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("tombstones", sa.BigInteger, comment="Tombstoned rows in the mirror after the last sync run."),
        sa.Column("cell_errors", sa.BigInteger, comment="Cell errors in live rows after the last full sync."),
        sa.Column("probe_checked_at", sa.DateTime(timezone=True), comment="The poll sensor's last look at Airtable."),
        sa.Column("probe_missing", sa.Integer, comment="Records on that first page the mirror lacked."),
        sa.Column("probe_missing_record_id", sa.Text, comment="The one of them Airtable created first."),
        sa.Column("probe_missing_created_at", sa.DateTime(timezone=True), comment="Its Airtable createdTime."),
        comment="Per mirrored table: last full sync, poll watermark, counts.",
        schema=s,
    )
    sa.Table(
        "sync_run",
        metadata,
        sa.Column("scan_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("stats", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("error", sa.Text),
        # The run's lease (postgres.sync_state): renewed while it works; a stale one marks a dead process.
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("kind in ('full', 'incremental', 'computed')", name="sync_run_kind"),
        sa.CheckConstraint("status in ('running', 'succeeded', 'failed')", name="sync_run_status"),
        sa.Index("sync_run_table_started", "base_id", "table_id", "started_at"),
        sa.Index("sync_run_running", "heartbeat_at", postgresql_where=sa.text("status = 'running'")),
        comment="One row per sync of one table.",
        schema=s,
    )
    sa.Table(
        "scan_seen",
        metadata,
        sa.Column("scan_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("airtable_id", sa.Text, primary_key=True),
        comment="Record ids a running full scan has seen; the completed scan tombstones the rest.",
        schema=s,
        # Unlogged: after a crash Postgres empties it, and a crashed scan tombstones nothing anyway.
        prefixes=["UNLOGGED"],
    )
    sa.Table(
        "field_catalog",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("field_id", sa.Text, primary_key=True),
        sa.Column("airtable_name", sa.Text, nullable=False),
        sa.Column("airtable_type", sa.Text, nullable=False),
        sa.Column("mirror_schema", sa.Text, nullable=False),
        sa.Column("mirror_table", sa.Text, nullable=False),
        sa.Column("column_name", sa.Text, nullable=False),
        sa.Column("pg_type", sa.Text, nullable=False),
        sa.Column("join_table", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        comment="Which column holds which Airtable field (by field id: a rename in Airtable moves no data).",
        schema=s,
    )
    sa.Table(
        "change_event",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("airtable_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_time", sa.DateTime(timezone=True)),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("kind in ('created', 'updated', 'deleted', 'restored')", name="change_event_kind"),
        sa.Index("change_event_applied", "applied_at"),
        sa.Index("change_event_record", "base_id", "table_id", "airtable_id"),
        comment="Each applied change with its Airtable time and our applied time: feeds lag and latency.",
        schema=s,
    )
    sa.Table(
        "check_result",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("check_name", sa.Text, primary_key=True),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("failing_ids", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
        sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", sa.Double, nullable=False, server_default="0"),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("severity in ('error', 'warn')", name="check_result_severity"),
        comment="The latest result of each cutover gate per table (airtable-pg cutover status).",
        schema=s,
    )
    add_webhook_tables(metadata)
    add_outbound_tables(metadata)
    add_api_tables(metadata)
    add_observability_tables(metadata)
    add_backend_flag_tables(metadata)
    add_shadow_tables(metadata)
    add_archive_tables(metadata)
    add_dagster_tables(metadata)


def add_shadow_tables(metadata: sa.MetaData) -> None:
    """Shadow reads: how many reads of each entity were compared per minute, and the mismatches found (capped)."""
    s = STATE_SCHEMA
    sa.Table(
        "shadow_stat",
        metadata,
        sa.Column("entity", sa.Text, primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("compared", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("mismatched", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("in_flight", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("errors", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column(
            "skipped",
            sa.BigInteger,
            nullable=False,
            server_default="0",
            comment="Reads served without a comparison: the API's comparison queue was full.",
        ),
        comment="Per entity and minute: reads compared, those with a mismatch, those set aside as in flight.",
        schema=s,
    )
    sa.Table(
        "shadow_mismatch",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("field_id", sa.Text),
        sa.Column("airtable", pg.JSONB),
        sa.Column("postgres", pg.JSONB),
        sa.Index("shadow_mismatch_entity", "entity", "id"),
        comment="Mismatches that survived a re-check, the newest 1,000 per entity: both values, never a token.",
        schema=s,
    )


def add_api_tables(metadata: sa.MetaData) -> None:
    """The tokens ``airtable-pg api`` accepts: only a SHA-256 of each is kept (they are random, 256 bits)."""
    sa.Table(
        "api_token",
        metadata,
        sa.Column("id", sa.Text, primary_key=True, comment="The token's public part (pat…), shown in listings."),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("secret_sha256", sa.Text, nullable=False, unique=True),
        sa.Column("bases", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("can_write", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        comment="Tokens apps use with airtable-pg api (never airtable_pg's own Airtable token).",
        schema=STATE_SCHEMA,
    )
    sa.Table(
        "api_pending_write",
        metadata,
        sa.Column(
            "fingerprint",
            sa.Text,
            primary_key=True,
            comment="SHA-256 of the token id, method, table and body: a retry of the same request has it.",
        ),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column(
            "row_ids",
            pg.ARRAY(pg.UUID(as_uuid=True)),
            nullable=False,
            comment="The mirror rows the request wrote, in its records' order.",
        ),
        sa.Column(
            "created_ids",
            pg.ARRAY(pg.UUID(as_uuid=True)),
            nullable=False,
            comment="Those of them it created (an upsert's answer names them).",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        comment="Writes to Postgres-authoritative tables the API committed but has not answered with success yet "
        "(Airtable's id still unknown): a retried request resumes them instead of writing again.",
        schema=STATE_SCHEMA,
    )


BACKEND_MODES = ("airtable", "shadow", "postgres_primary")


def add_backend_flag_tables(metadata: sa.MetaData) -> None:
    """Where each entity's reads are served from during a cutover, and every change of it."""
    s = STATE_SCHEMA
    modes = ", ".join(f"'{mode}'" for mode in BACKEND_MODES)
    sa.Table(
        "backend_flag",
        metadata,
        sa.Column("entity", sa.Text, primary_key=True, comment="The spec's base.table key (airtable-pg flags show)."),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.CheckConstraint(f"mode in ({modes})", name="backend_flag_mode"),
        sa.UniqueConstraint("base_id", "table_id", name="backend_flag_table"),
        comment="Per entity: airtable | shadow | postgres_primary (no row: airtable). Changed only with an audit row.",
        schema=s,
    )
    sa.Table(
        "backend_flag_audit",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("from_mode", sa.Text, nullable=False),
        sa.Column("to_mode", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Index("backend_flag_audit_entity", "entity", "at"),
        comment="Append-only: who changed which entity's backend, when, from what to what, and why.",
        schema=s,
    )


def add_observability_tables(metadata: sa.MetaData) -> None:
    """The change-latency histogram (kept by a trigger on change_event) and the alerter's incidents."""
    s = STATE_SCHEMA
    sa.Table(
        "change_latency_bucket",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("le", sa.Double, primary_key=True),
        sa.Column("observations", sa.BigInteger, nullable=False, server_default="0"),
        comment="Cumulative histogram of live changes' latency (Airtable's change → our commit): changes with "
        "latency ≤ le seconds, ever. Kept by a trigger on change_event.",
        schema=s,
    )
    sa.Table(
        "change_latency",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("observations", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("seconds_sum", sa.Double, nullable=False, server_default="0"),
        sa.Column("last_applied_at", sa.DateTime(timezone=True)),
        comment="Per table and source: live changes applied ever, their summed latency, the last one's commit.",
        schema=s,
    )
    sa.Table(
        "alert_incident",
        metadata,
        sa.Column("alert", sa.Text, primary_key=True),
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("labels", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("last_true_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("value", sa.Double),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("notified_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("state in ('pending', 'firing', 'resolved')", name="alert_incident_state"),
        comment="One row per alert and scope (table, base, job): pending until its `for` has passed, firing (one "
        "message), resolved (one message). The built-in alerter's whole memory.",
        schema=s,
    )
    sa.Table(
        "alert_silence",
        metadata,
        sa.Column("alert", sa.Text, primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        comment="An alert a person silenced until a moment: its incidents are still tracked, not posted.",
        schema=s,
    )
    sa.Table(
        "alert_evaluation",
        metadata,
        sa.Column("alerter", sa.Text, primary_key=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("firing", sa.Integer, nullable=False, server_default="0"),
        comment="When the built-in alerter last evaluated (its heartbeat): an alerter that stopped is itself an alert.",
        schema=s,
    )


def _lane_counters() -> list[sa.Column]:
    """Per lane beside the totals (``requests``, ``throttled``, ``server_errors`` count every lane): the standard
    lane's figure is the total less the fast and outbound ones."""
    return [
        sa.Column(name, sa.BigInteger, nullable=False, server_default="0", comment=comment)
        for name, comment in (
            ("outbound_requests", "Requests of the outbound pusher (also counted in requests)."),
            ("fast_throttled", "429s answered to the fast lane (also counted in throttled)."),
            ("outbound_throttled", "429s answered to the outbound pusher (also counted in throttled)."),
            ("fast_server_errors", "5xx answered to the fast lane (also counted in server_errors)."),
            ("outbound_server_errors", "5xx answered to the outbound pusher (also counted in server_errors)."),
        )
    ]


def add_dagster_tables(metadata: sa.MetaData) -> None:
    """What the Dagster sensors saw of Dagster's own failures, so ``/metrics`` serves it from this database."""
    s = STATE_SCHEMA
    sa.Table(
        "dagster_run_failure",
        metadata,
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("job_name", sa.Text, nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("will_retry", sa.Boolean, nullable=False, server_default=sa.false()),
        comment="Each failed Dagster run of this code location, once (the run-failure sensor records it).",
        schema=s,
    )
    sa.Table(
        "dagster_sensor_tick",
        metadata,
        sa.Column("sensor", sa.Text, primary_key=True),
        sa.Column("failed_ticks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failing", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_tick_at", sa.DateTime(timezone=True)),
        sa.Column("last_failure_at", sa.DateTime(timezone=True)),
        sa.Column("checked_until", sa.DateTime(timezone=True), comment="Ticks up to here are counted."),
        comment="Per sensor of this code location: failed ticks ever, and whether its latest tick failed "
        "(the alerts sensor reads them from the Dagster instance).",
        schema=s,
    )


def add_archive_tables(metadata: sa.MetaData) -> None:
    """The attachment archive (``airtable_pg.archive``): one row per Airtable attachment the mirror holds."""
    sa.Table(
        "attachment",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("attachment_id", sa.Text, primary_key=True),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("field_id", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text),
        sa.Column("size", sa.BigInteger, comment="The byte count Airtable reports; the copy must match it."),
        sa.Column("source_url", sa.Text, comment="The latest Airtable URL seen (expires ~2 h after it was read)."),
        sa.Column("source_thumbnails", pg.JSONB, comment="The thumbnails Airtable offered with it (URLs expire too)."),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("claimed_until", sa.DateTime(timezone=True), comment="A copier's lease; a killed one's expires."),
        sa.Column("last_error", sa.Text),
        sa.Column("store_key", sa.Text, comment="Where the copy is, inside the archive store."),
        sa.Column("store_url", sa.Text, comment="The copy's stable URL (or path): what the app serves."),
        sa.Column("sha256", sa.Text, comment="Of the bytes downloaded, verified against the stored copy."),
        sa.Column("stored_bytes", sa.BigInteger),
        sa.Column("thumbnails", pg.JSONB, comment="Copies of its thumbnails: variant → key, url, sha256, size, …"),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column(
            "source_changed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=NOW,
            comment="When the URL held was read: its mirror row's synced_at, or the archive's own re-read.",
        ),
        sa.Column("tombstoned_at", sa.DateTime(timezone=True), comment="Its record or the attachment left Airtable."),
        sa.Column("purged_at", sa.DateTime(timezone=True), comment="The copy's bytes were removed (after retention)."),
        sa.CheckConstraint("status in ('pending', 'archived', 'failed')", name="attachment_status"),
        sa.Index(
            "attachment_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending' and tombstoned_at is null"),
        ),
        sa.Index("attachment_record", "base_id", "table_id", "record_id"),
        sa.Index(
            "attachment_unarchived",
            "base_id",
            postgresql_where=sa.text("status <> 'archived' and tombstoned_at is null"),
        ),
        comment="Each attachment the mirror holds, by Airtable attachment id: its archived copy, checksum, state.",
        schema=STATE_SCHEMA,
    )


def add_outbound_tables(metadata: sa.MetaData) -> None:
    """The outbound sync of Postgres-authoritative tables: the outbox, idempotency-key fields, conflicts."""
    s = STATE_SCHEMA
    sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("mirror_schema", sa.Text, nullable=False),
        sa.Column("mirror_table", sa.Text, nullable=False),
        sa.Column("row_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("airtable_id", sa.Text),
        sa.Column("operation", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("history", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("pushed_fields", pg.JSONB),
        sa.Column("pushed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("operation in ('upsert', 'delete')", name="outbox_operation"),
        sa.CheckConstraint("status in ('pending', 'done', 'dead')", name="outbox_status"),
        sa.UniqueConstraint("mirror_schema", "mirror_table", "row_id", name="outbox_row"),
        sa.Index("outbox_due", "base_id", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
        comment="One row per changed row of a Postgres-authoritative table (written by triggers), coalesced to its "
        "latest state; pending until pushed to Airtable.",
        schema=s,
    )
    sa.Table(
        "outbound_key_field",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("field_id", sa.Text, nullable=False),
        sa.Column("field_name", sa.Text, nullable=False),
        sa.Column("ensured_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        comment="The Airtable field holding each pushed row's Postgres id: creates upsert on it, syncs match on it.",
        schema=s,
    )
    sa.Table(
        "conflict",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("airtable_id", sa.Text, nullable=False),
        sa.Column("row_id", pg.UUID(as_uuid=True)),
        sa.Column("field_id", sa.Text, nullable=False),
        sa.Column("column_name", sa.Text, nullable=False),
        sa.Column("postgres_value", pg.JSONB),
        sa.Column("airtable_value", pg.JSONB),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("resolution", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        comment="Airtable edits of Postgres-authoritative records: both values, how the table's policy resolved it.",
        schema=s,
    )


def add_webhook_tables(metadata: sa.MetaData) -> None:
    """Webhooks, their verified notifications, what could not be applied, and the schema drift they reported."""
    s = STATE_SCHEMA
    sa.Table(
        "webhook",
        metadata,
        sa.Column("base_id", sa.Text, primary_key=True),
        sa.Column("webhook_id", sa.Text, nullable=False, unique=True),
        # The MAC secret verifies notifications; it is a secret: never logged, never shown in Dagster.
        sa.Column("mac_secret", sa.Text, nullable=False),
        sa.Column("cursor", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("notification_url", sa.Text),
        sa.Column("specification", pg.JSONB, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("last_applied_at", sa.DateTime(timezone=True)),
        sa.Column("last_notification_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        comment="The one Airtable webhook per base: id, MAC secret, payload cursor, expiry, health.",
        schema=s,
    )
    sa.Table(
        "inbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("webhook_id", sa.Text, nullable=False),
        sa.Column("body", pg.JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
        sa.Index("inbox_pending", "base_id", postgresql_where=sa.text("processed_at is null")),
        comment="Verified webhook notifications (pings): each wakes the applier for its base.",
        schema=s,
    )
    sa.Table(
        "dead_letter",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text),
        sa.Column("airtable_id", sa.Text),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        # Triage (0009): every attempt's time and error, and why a person replayed or discarded the letter.
        sa.Column("history", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("resolution_reason", sa.Text),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("direction in ('inbound', 'outbound')", name="dead_letter_direction"),
        sa.CheckConstraint("status in ('open', 'replayed', 'discarded')", name="dead_letter_status"),
        sa.Index("dead_letter_open", "base_id", postgresql_where=sa.text("status = 'open'")),
        comment="Changes that could not be applied (payload, error, attempts); the rest went on.",
        schema=s,
    )
    sa.Table(
        "schema_drift",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("base_id", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text),
        sa.Column("field_id", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("detail", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        comment="Table and field changes Airtable reported by webhook (for the schema-drift check).",
        schema=s,
    )


_FIXED_COLUMN_TYPES: dict[str, sa.types.TypeEngine] = {**_COLUMN_TYPES, "uuid": pg.UUID(as_uuid=True)}
_FIXED_SERVER_DEFAULTS = {"id": sa.text("gen_random_uuid()"), "fields": sa.text("'{}'::jsonb"), "synced_at": NOW}


def _fixed_column(fixed: FixedColumn) -> sa.Column:
    """A fixed mirror column; ``info`` carries what the Dagster catalog shows (Alembic ignores ``info``)."""
    return sa.Column(
        fixed.name,
        _FIXED_COLUMN_TYPES[fixed.pg_type],
        primary_key=fixed.primary_key,
        unique=fixed.unique or None,
        nullable=fixed.nullable,
        server_default=_FIXED_SERVER_DEFAULTS.get(fixed.name),
        comment=_FIXED_COMMENTS.get(fixed.name),
        info={"pg_type": fixed.pg_type, "description": fixed.description},
    )


# Column comments the first migrations created; kept so autogenerate sees no difference.
_FIXED_COMMENTS = {
    "fields": "Every cell as Airtable returns it, keyed by field id (lossless).",
    "deleted_at": "Set when the record is gone from Airtable.",
}


def mirror_columns(table: TableSpec) -> list[sa.Column]:
    """Every column of a mirror table, in order: fixed head, one per spec field, fixed tail."""
    head = [_fixed_column(c) for c in FIXED_COLUMNS if c.before_fields]
    tail = [_fixed_column(c) for c in FIXED_COLUMNS if not c.before_fields]
    fields = [sa.Column(f.column, column_type(f.pg_type), comment=_field_comment(f)) for f in table.fields.values()]
    return head + fields + tail


def _field_comment(f: FieldSpec) -> str:
    return f"Airtable field {f.id} ({f.type}): {f.name}"


def api_order_index(table: TableSpec) -> str:
    return fit(f"{table.mirror}__api_order", key=f"{table.id}.api_order")


def add_mirror_tables(metadata: sa.MetaData, base: BaseSpec, table: TableSpec) -> sa.Table:
    mirror = sa.Table(
        table.mirror,
        metadata,
        *mirror_columns(table),
        comment=f"Mirror of Airtable table {table.id} ({table.airtable_name}) in base {base.id}.",
        schema=base.schema,
    )
    # Airtable's default order (creation order; ties by id), over live rows: the API pages by ranges of it.
    sa.Index(
        api_order_index(table),
        mirror.c.airtable_created_time,
        mirror.c.airtable_id,
        postgresql_where=sa.text("deleted_at is null"),
    )
    for link in table.link_fields:
        sa.Table(
            table.join_table(link),
            metadata,
            sa.Column(
                "airtable_id",
                sa.Text,
                sa.ForeignKey(mirror.c.airtable_id, ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column("position", sa.Integer, primary_key=True),
            sa.Column("linked_airtable_id", sa.Text, nullable=False, index=True),
            comment=f"Links of {table.mirror}.{link.column} (Airtable field {link.id}) to {link.linked_table}.",
            schema=base.schema,
        )
    return mirror


def state_metadata() -> sa.MetaData:
    """The ``airtable_sync`` schema alone: what the package's own migrations create."""
    metadata = sa.MetaData()
    add_state_tables(metadata)
    return metadata


def build_metadata(spec: SyncSpec) -> sa.MetaData:
    """The spec's mirror and join tables: what a user's (or the demo's) migrations create."""
    metadata = sa.MetaData()
    for base, table in spec.tables():
        add_mirror_tables(metadata, base, table)
    return metadata


def mirror_schemas(spec: SyncSpec) -> list[str]:
    return sorted({base.schema for base in spec.bases.values()})


def schemas(spec: SyncSpec) -> list[str]:
    """Every schema airtable_pg owns for this spec: the state schema and the mirrors'."""
    return sorted({STATE_SCHEMA, *mirror_schemas(spec)})
