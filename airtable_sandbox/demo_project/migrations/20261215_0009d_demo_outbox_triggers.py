"""demo: outbox triggers on the Postgres-authoritative tables (personal_goals, persoonlijke_overtuigingen)

Revision ID: 0009d
Revises: 0002
Create Date: 2026-12-15 10:05:00.000000

Alembic's autogenerate does not see triggers; ``airtable-pg db revision`` writes these statements for a spec of
your own (``migrations/env.py``, ``outbox_trigger_ops``). The trigger function ships with the state schema (0009).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0009d'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = '0009'


def upgrade() -> None:
    op.execute("select airtable_sync.install_outbox_trigger('airtable', 'personal_goals', 'appCoachingDemo01', 'tblPersonalGoals1')")
    op.execute("select airtable_sync.install_outbox_trigger('airtable', 'persoonlijke_overtuigingen', 'appCoachingDemo01', 'tblPersOvertuig01')")


def downgrade() -> None:
    op.execute("select airtable_sync.drop_outbox_trigger('airtable', 'persoonlijke_overtuigingen')")
    op.execute("select airtable_sync.drop_outbox_trigger('airtable', 'personal_goals')")
