"""observability: change-latency histogram kept by a trigger; alert incidents and silences; 5xx per base

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-16 09:00:00.000000

``change_latency_bucket`` and ``change_latency`` are Prometheus counters kept in the database: a statement trigger
on ``change_event`` adds each live change (webhook or poll, never a full sync's backfill) to its cumulative
buckets as it commits. So ``/metrics`` reads a few dozen rows per scrape whatever the size of ``change_event``,
and the counts stay monotonic across every process that applies changes (no Pushgateway, no multiprocess mode).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The bucket bounds (seconds) around the SLO (p95 ≤ 15 s, p99 ≤ 60 s): 15 and 60 are exact bounds. The same
# tuple is airtable_pg.observability.metrics.LATENCY_BUCKETS (a test keeps them equal); +Inf is the count.
BOUNDS = "array[0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600, 'Infinity']::double precision[]"

# Rows are aggregated per statement (one update per table, source and bound per batch, not per record), and
# written in key order so two batches of one table cannot deadlock on each other's bucket rows. Each change is
# binned once (width_bucket over the negated bounds counts the bounds ≥ its latency: the first of them is its
# bucket, exact at a bound as Prometheus's inclusive le), then the few bins are summed into cumulative counts.
COUNT_FUNCTION = f"""
create or replace function airtable_sync.count_change_latency() returns trigger language plpgsql as $$
declare
  bounds double precision[] := {BOUNDS};
  negated double precision[] := array(select -b from unnest(bounds) b order by 1);
  n integer := array_length(bounds, 1);
begin
  with live as (
    select base_id, table_id, source, applied_at,
           greatest(extract(epoch from applied_at - source_time), 0)::double precision as seconds
    from new_events
    where source <> 'full' and source_time is not null and kind in ('created', 'updated')
  ), binned as (
    select base_id, table_id, source, bounds[n - width_bucket(-seconds, negated) + 1] as le, count(*) as changes
    from live group by 1, 2, 3, 4
  )
  insert into airtable_sync.change_latency_bucket as b (base_id, table_id, source, le, observations)
  select base_id, table_id, source, bound, coalesce(sum(changes) filter (where le <= bound), 0)
  from binned cross join unnest(bounds) bound
  group by base_id, table_id, source, bound
  order by base_id, table_id, source, bound
  on conflict (base_id, table_id, source, le) do update set observations = b.observations + excluded.observations;

  insert into airtable_sync.change_latency as l (base_id, table_id, source, observations, seconds_sum, last_applied_at)
  select base_id, table_id, source, count(*),
         sum(greatest(extract(epoch from applied_at - source_time), 0)), max(applied_at)
  from new_events
  where source <> 'full' and source_time is not null and kind in ('created', 'updated')
  group by base_id, table_id, source
  order by base_id, table_id, source
  on conflict (base_id, table_id, source) do update set
    observations = l.observations + excluded.observations,
    seconds_sum = l.seconds_sum + excluded.seconds_sum,
    last_applied_at = greatest(l.last_applied_at, excluded.last_applied_at);
  return null;
end $$;
"""

BACKFILL = f"""
insert into airtable_sync.change_latency_bucket (base_id, table_id, source, le, observations)
select base_id, table_id, source, bound,
       count(*) filter (where greatest(extract(epoch from applied_at - source_time), 0) <= bound)
from airtable_sync.change_event cross join unnest({BOUNDS}) bound
where source <> 'full' and source_time is not null and kind in ('created', 'updated')
group by base_id, table_id, source, bound;
insert into airtable_sync.change_latency (base_id, table_id, source, observations, seconds_sum, last_applied_at)
select base_id, table_id, source, count(*), sum(greatest(extract(epoch from applied_at - source_time), 0)),
       max(applied_at)
from airtable_sync.change_event
where source <> 'full' and source_time is not null and kind in ('created', 'updated')
group by base_id, table_id, source;
"""


def upgrade() -> None:
    op.add_column(
        "rate_limit",
        sa.Column(
            "server_errors", sa.BigInteger(), server_default="0", nullable=False,
            comment="Airtable's 5xx answers (each retried or given up on): the base's error rate beside requests.",
        ),
        schema="airtable_sync",
    )
    op.create_table(
        "change_latency_bucket",
        sa.Column("base_id", sa.Text(), nullable=False),
        sa.Column("table_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("le", sa.Double(), nullable=False),
        sa.Column("observations", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("base_id", "table_id", "source", "le"),
        schema="airtable_sync",
        comment="Cumulative histogram of live changes' latency (Airtable's change → our commit): changes with "
        "latency ≤ le seconds, ever. Kept by a trigger on change_event.",
    )
    op.create_table(
        "change_latency",
        sa.Column("base_id", sa.Text(), nullable=False),
        sa.Column("table_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("observations", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("seconds_sum", sa.Double(), server_default="0", nullable=False),
        sa.Column("last_applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("base_id", "table_id", "source"),
        schema="airtable_sync",
        comment="Per table and source: live changes applied ever, their summed latency, the last one's commit.",
    )
    op.create_table(
        "alert_incident",
        sa.Column("alert", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("labels", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_true_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state in ('pending', 'firing', 'resolved')", name="alert_incident_state"),
        sa.PrimaryKeyConstraint("alert", "scope"),
        schema="airtable_sync",
        comment="One row per alert and scope (table, base, job): pending until its `for` has passed, firing (one "
        "message), resolved (one message). The built-in alerter's whole memory.",
    )
    op.create_table(
        "alert_silence",
        sa.Column("alert", sa.Text(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("alert"),
        schema="airtable_sync",
        comment="An alert a person silenced until a moment: its incidents are still tracked, not posted.",
    )
    op.create_table(
        "alert_evaluation",
        sa.Column("alerter", sa.Text(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("firing", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("alerter"),
        schema="airtable_sync",
        comment="When the built-in alerter last evaluated (its heartbeat): an alerter that stopped is itself an alert.",
    )
    op.execute(COUNT_FUNCTION)
    op.execute(
        "create trigger change_event_latency after insert on airtable_sync.change_event "
        "referencing new table as new_events for each statement execute function airtable_sync.count_change_latency()"
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("drop trigger if exists change_event_latency on airtable_sync.change_event")
    op.execute("drop function if exists airtable_sync.count_change_latency()")
    op.drop_table("alert_evaluation", schema="airtable_sync")
    op.drop_table("alert_silence", schema="airtable_sync")
    op.drop_table("alert_incident", schema="airtable_sync")
    op.drop_table("change_latency", schema="airtable_sync")
    op.drop_table("change_latency_bucket", schema="airtable_sync")
    op.drop_column("rate_limit", "server_errors", schema="airtable_sync")
