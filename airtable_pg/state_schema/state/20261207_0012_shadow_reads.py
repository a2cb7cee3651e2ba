"""shadow_stat and shadow_mismatch: shadow reads compared per entity and minute, and the mismatches found

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shadow_stat",
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compared", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("mismatched", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("in_flight", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("errors", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("entity", "minute"),
        schema="airtable_sync",
        comment="Per entity and minute: reads compared, those with a mismatch, those set aside as in flight.",
    )
    op.create_table(
        "shadow_mismatch",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("field_id", sa.Text(), nullable=True),
        sa.Column("airtable", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("postgres", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema="airtable_sync",
        comment="Mismatches that survived a re-check, the newest 1,000 per entity: both values, never a token.",
    )
    op.create_index("shadow_mismatch_entity", "shadow_mismatch", ["entity", "id"], schema="airtable_sync")


def downgrade() -> None:
    op.drop_index("shadow_mismatch_entity", table_name="shadow_mismatch", schema="airtable_sync")
    op.drop_table("shadow_mismatch", schema="airtable_sync")
    op.drop_table("shadow_stat", schema="airtable_sync")
