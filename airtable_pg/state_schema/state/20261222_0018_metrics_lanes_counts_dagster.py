"""metrics: requests, 429s and 5xx per lane; tombstones, cell errors and the fast-lane probe per table; the
archive's backlog index; Dagster's failed runs and failing sensor ticks

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-22 09:00:00

Every figure ``/metrics`` serves is read from this database, so what only a Dagster sensor or a sync run can see
(a failed run, a failed tick, the mirror's tombstones and cell errors, a user Airtable has and the mirror lacks) is
written here by whoever sees it, and any exporter process reads it back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "airtable_sync"
LANE_COUNTERS = (
    ("outbound_requests", "Requests of the outbound pusher (also counted in requests)."),
    ("fast_throttled", "429s answered to the fast lane (also counted in throttled)."),
    ("outbound_throttled", "429s answered to the outbound pusher (also counted in throttled)."),
    ("fast_server_errors", "5xx answered to the fast lane (also counted in server_errors)."),
    ("outbound_server_errors", "5xx answered to the outbound pusher (also counted in server_errors)."),
)
TABLE_COLUMNS = (
    ("tombstones", sa.BigInteger(), "Tombstoned rows in the mirror after the last sync run."),
    ("cell_errors", sa.BigInteger(), "Cell errors in live rows after the last full sync."),
    ("probe_checked_at", sa.DateTime(timezone=True), "The poll sensor's last look at Airtable."),
    ("probe_missing", sa.Integer(), "Records on that first page the mirror lacked."),
    ("probe_missing_record_id", sa.Text(), "The one of them Airtable created first."),
    ("probe_missing_created_at", sa.DateTime(timezone=True), "Its Airtable createdTime."),
)
UNARCHIVED = "status <> 'archived' and tombstoned_at is null"


def upgrade() -> None:
    for name, comment in LANE_COUNTERS:
        op.add_column("rate_limit", sa.Column(name, sa.BigInteger(), server_default="0", nullable=False,
                                              comment=comment), schema=S)  # fmt: skip
    for name, type_, comment in TABLE_COLUMNS:
        op.add_column("table_state", sa.Column(name, type_, nullable=True, comment=comment), schema=S)
    op.create_index("attachment_unarchived", "attachment", ["base_id"], unique=False, schema=S,
                    postgresql_where=sa.text(UNARCHIVED))  # fmt: skip
    op.create_table(
        "dagster_run_failure",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("job_name", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("will_retry", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
        schema=S,
        comment="Each failed Dagster run of this code location, once (the run-failure sensor records it).",
    )
    op.create_table(
        "dagster_sensor_tick",
        sa.Column("sensor", sa.Text(), nullable=False),
        sa.Column("failed_ticks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("failing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_until", sa.DateTime(timezone=True), nullable=True, comment="Ticks up to here are counted."),
        sa.PrimaryKeyConstraint("sensor"),
        schema=S,
        comment="Per sensor of this code location: failed ticks ever, and whether its latest tick failed "
        "(the alerts sensor reads them from the Dagster instance).",
    )


def downgrade() -> None:
    op.drop_table("dagster_sensor_tick", schema=S)
    op.drop_table("dagster_run_failure", schema=S)
    op.drop_index("attachment_unarchived", table_name="attachment", schema=S, postgresql_where=sa.text(UNARCHIVED))
    for name, _type, _comment in reversed(TABLE_COLUMNS):
        op.drop_column("table_state", name, schema=S)
    for name, _comment in reversed(LANE_COUNTERS):
        op.drop_column("rate_limit", name, schema=S)
