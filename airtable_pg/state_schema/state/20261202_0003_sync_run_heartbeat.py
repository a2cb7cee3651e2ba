"""sync_run heartbeat: a run holds a lease while it works

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-02 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sync_run",
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        schema="airtable_sync",
    )
    op.create_index(
        "sync_run_running",
        "sync_run",
        ["heartbeat_at"],
        unique=False,
        schema="airtable_sync",
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("sync_run_running", table_name="sync_run", schema="airtable_sync")
    op.drop_column("sync_run", "heartbeat_at", schema="airtable_sync")
