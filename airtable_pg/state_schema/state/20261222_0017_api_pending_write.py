"""api_pending_write: API writes to Postgres-authoritative tables committed but not yet answered with success

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_pending_write",
        sa.Column(
            "fingerprint",
            sa.Text(),
            nullable=False,
            comment="SHA-256 of the token id, method, table and body: a retry of the same request has it.",
        ),
        sa.Column("base_id", sa.Text(), nullable=False),
        sa.Column("table_id", sa.Text(), nullable=False),
        sa.Column(
            "row_ids",
            postgresql.ARRAY(sa.UUID()),
            nullable=False,
            comment="The mirror rows the request wrote, in its records' order.",
        ),
        sa.Column(
            "created_ids",
            postgresql.ARRAY(sa.UUID()),
            nullable=False,
            comment="Those of them it created (an upsert's answer names them).",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
        schema="airtable_sync",
        comment="Writes to Postgres-authoritative tables the API committed but has not answered with success yet "
        "(Airtable's id still unknown): a retried request resumes them instead of writing again.",
    )


def downgrade() -> None:
    op.drop_table("api_pending_write", schema="airtable_sync")
