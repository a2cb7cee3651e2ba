"""The state schema's revisions build exactly what ``postgres/schema.py`` describes: a revision that forgot a
column, an index or a constraint the code relies on fails here, not in a deployment."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from airtable_pg.names import STATE_SCHEMA
from airtable_pg.postgres.database import sqlalchemy_url
from airtable_pg.postgres.schema import state_metadata


def test_a_database_at_the_heads_has_the_state_schema_the_code_describes(database_url: str) -> None:
    def only_state(name, type_, parent_names) -> bool:
        return name == STATE_SCHEMA if type_ == "schema" else True

    engine = sa.create_engine(sqlalchemy_url(database_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_schemas": True, "include_name": only_state, "compare_type": True}
        )
        differences = compare_metadata(context, state_metadata())
    engine.dispose()
    assert differences == [], "\n".join(map(repr, differences))
