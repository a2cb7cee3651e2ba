"""backend_flag, backend_flag_audit and airtable_sync.backend_mode(entity): per-entity cutover flags

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backend_flag",
        sa.Column("entity", sa.Text(), nullable=False, comment="The spec's base.table key (airtable-pg flags show)."),
        sa.Column("base_id", sa.Text(), nullable=False),
        sa.Column("table_id", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="1", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint("mode in ('airtable', 'shadow', 'postgres_primary')", name="backend_flag_mode"),
        sa.PrimaryKeyConstraint("entity"),
        sa.UniqueConstraint("base_id", "table_id", name="backend_flag_table"),
        schema="airtable_sync",
        comment="Per entity: airtable | shadow | postgres_primary (no row: airtable). Changed only with an audit row.",
    )
    op.create_table(
        "backend_flag_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("from_mode", sa.Text(), nullable=False),
        sa.Column("to_mode", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("forced", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="airtable_sync",
        comment="Append-only: who changed which entity's backend, when, from what to what, and why.",
    )
    op.create_index("backend_flag_audit_entity", "backend_flag_audit", ["entity", "at"], schema="airtable_sync")
    # For apps that read Postgres directly: one switch with the API. An environment pin (DATA_BACKEND_<ENTITY>)
    # lives in the app's own process; the Python helper (airtable_pg.routing.backend_for) honours it.
    op.execute(
        "create or replace function airtable_sync.backend_mode(entity text) returns text language sql stable as $$ "
        "select coalesce((select f.mode from airtable_sync.backend_flag f where f.entity = $1), 'airtable') $$"
    )


def downgrade() -> None:
    op.execute("drop function if exists airtable_sync.backend_mode(text)")
    op.drop_index("backend_flag_audit_entity", table_name="backend_flag_audit", schema="airtable_sync")
    op.drop_table("backend_flag_audit", schema="airtable_sync")
    op.drop_table("backend_flag", schema="airtable_sync")
