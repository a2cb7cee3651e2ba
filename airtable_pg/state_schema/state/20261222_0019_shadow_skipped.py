"""shadow_stat.skipped: reads served in shadow without a comparison because the comparison queue was full

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "shadow_stat",
        sa.Column("skipped", sa.BigInteger(), server_default="0", nullable=False,
                  comment="Reads served without a comparison: the API's comparison queue was full."),
        schema="airtable_sync",
    )  # fmt: skip


def downgrade() -> None:
    op.drop_column("shadow_stat", "skipped", schema="airtable_sync")
