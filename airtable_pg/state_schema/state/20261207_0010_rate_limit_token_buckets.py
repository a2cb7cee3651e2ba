"""rate_limit: booked slots (a base's own, a token's calendar); rows keyed 'token:<fingerprint>' are per-token buckets

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "rate_limit",
        sa.Column(
            "slots",
            postgresql.ARRAY(sa.BigInteger()),
            server_default="{}",
            nullable=False,
            comment="Future booked slots, in grid units since the epoch: a base's own, or every base's of a token.",
        ),
        schema="airtable_sync",
    )
    op.execute(
        "comment on table airtable_sync.rate_limit is 'Request buckets shared by every process: one per Airtable base "
        "(5 requests/s), one per token (50 requests/s, keyed token:<fingerprint>, never the token)'"
    )


def downgrade() -> None:
    op.execute("delete from airtable_sync.rate_limit where base_id like 'token:%'")
    op.drop_column("rate_limit", "slots", schema="airtable_sync")
    op.execute(
        "comment on table airtable_sync.rate_limit is "
        "'One request bucket per Airtable base, shared by every process (5 requests/s).'"
    )
