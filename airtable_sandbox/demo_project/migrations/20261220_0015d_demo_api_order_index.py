"""demo: an index per mirror table on Airtable's default order (created time, record id), for airtable-pg api

Revision ID: 0015d
Revises: 0009d
Create Date: 2026-12-20 09:05:00.000000

``airtable-pg db revision`` autogenerates the same index for a spec of your own (``postgres.schema``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015d'
down_revision: str | Sequence[str] | None = '0009d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('programs', 'methods', 'overtuigingen', 'users', 'persoonlijke_overtuigingen', 'personal_goals')


def upgrade() -> None:
    for table in TABLES:
        op.create_index(
            f'{table}__api_order', table, ['airtable_created_time', 'airtable_id'], unique=False, schema='airtable',
            postgresql_where=sa.text('deleted_at is null'),
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_index(f'{table}__api_order', table_name=table, schema='airtable', postgresql_where=sa.text('deleted_at is null'))
