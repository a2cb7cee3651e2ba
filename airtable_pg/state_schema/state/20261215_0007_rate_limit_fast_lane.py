"""rate_limit: the fast lane's reserved slots and its request count; sync_run kind 'computed' (refreshes)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-15 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "rate_limit",
        sa.Column(
            "fast_next_slot",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Reserved slots before this moment are taken (by the fast lane, or lent to the standard lane).",
        ),
        schema="airtable_sync",
    )
    op.add_column(
        "rate_limit",
        sa.Column(
            "fast_requests",
            sa.BigInteger(),
            server_default="0",
            nullable=False,
            comment="Requests of the fast lane (also counted in requests).",
        ),
        schema="airtable_sync",
    )
    op.drop_constraint("sync_run_kind", "sync_run", schema="airtable_sync", type_="check")
    op.create_check_constraint(
        "sync_run_kind", "sync_run", "kind in ('full', 'incremental', 'computed')", schema="airtable_sync"
    )


def downgrade() -> None:
    op.execute("delete from airtable_sync.sync_run where kind = 'computed'")
    op.drop_constraint("sync_run_kind", "sync_run", schema="airtable_sync", type_="check")
    op.create_check_constraint("sync_run_kind", "sync_run", "kind in ('full', 'incremental')", schema="airtable_sync")
    op.drop_column("rate_limit", "fast_requests", schema="airtable_sync")
    op.drop_column("rate_limit", "fast_next_slot", schema="airtable_sync")
