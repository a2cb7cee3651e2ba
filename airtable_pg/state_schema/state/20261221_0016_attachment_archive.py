"""attachment: the attachment archive's state (one row per Airtable attachment); the attachment_archive view

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the app reads: one row per attachment with a verified copy, its stable URL and where it belongs. A view,
# so the state table's bookkeeping columns can change without breaking the app's queries.
VIEW = """
create view airtable_sync.attachment_archive as
select base_id, table_id, record_id, field_id, attachment_id, filename, content_type, stored_bytes as size, sha256,
       store_url as url, store_key as path, thumbnails, archived_at, tombstoned_at
  from airtable_sync.attachment
 where status = 'archived' and purged_at is null
"""


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("base_id", sa.Text(), nullable=False),
        sa.Column("attachment_id", sa.Text(), nullable=False),
        sa.Column("table_id", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("field_id", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True,
                  comment="The byte count Airtable reports; the copy must match it."),
        sa.Column("source_url", sa.Text(), nullable=True,
                  comment="The latest Airtable URL seen (expires ~2 h after it was read)."),
        sa.Column("source_thumbnails", postgresql.JSONB(astext_type=sa.Text()), nullable=True,
                  comment="The thumbnails Airtable offered with it (URLs expire too)."),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True,
                  comment="A copier's lease; a killed one's expires."),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("store_key", sa.Text(), nullable=True, comment="Where the copy is, inside the archive store."),
        sa.Column("store_url", sa.Text(), nullable=True,
                  comment="The copy's stable URL (or path): what the app serves."),
        sa.Column("sha256", sa.Text(), nullable=True,
                  comment="Of the bytes downloaded, verified against the stored copy."),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=True),
        sa.Column("thumbnails", postgresql.JSONB(astext_type=sa.Text()), nullable=True,
                  comment="Copies of its thumbnails: variant → key, url, sha256, size, …"),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("source_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False,
                  comment="When the URL held was read: its mirror row's synced_at, or the archive's own re-read."),
        sa.Column("tombstoned_at", sa.DateTime(timezone=True), nullable=True,
                  comment="Its record or the attachment left Airtable."),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True,
                  comment="The copy's bytes were removed (after retention)."),
        sa.CheckConstraint("status in ('pending', 'archived', 'failed')", name="attachment_status"),
        sa.PrimaryKeyConstraint("base_id", "attachment_id"),
        schema="airtable_sync",
        comment="Each attachment the mirror holds, by Airtable attachment id: its archived copy, checksum, state.",
    )
    op.create_index("attachment_due", "attachment", ["next_attempt_at"], unique=False, schema="airtable_sync",
                    postgresql_where=sa.text("status = 'pending' and tombstoned_at is null"))
    op.create_index("attachment_record", "attachment", ["base_id", "table_id", "record_id"], unique=False,
                    schema="airtable_sync")
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("drop view airtable_sync.attachment_archive")
    op.drop_index("attachment_record", table_name="attachment", schema="airtable_sync")
    op.drop_index("attachment_due", table_name="attachment", schema="airtable_sync",
                  postgresql_where=sa.text("status = 'pending' and tombstoned_at is null"))
    op.drop_table("attachment", schema="airtable_sync")
