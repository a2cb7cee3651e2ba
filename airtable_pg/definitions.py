"""This repository's Dagster code location: ``dagster … -m airtable_pg.definitions`` or ``-w workspace.yaml``.

A project using airtable_pg like any other (``airtable_pg.dagster.build_defs``), with the spec and migrations its
settings name (``AIRTABLE_PG_SPEC``, ``AIRTABLE_PG_MIGRATIONS``; else the packaged demo's), shown in the UI as
the code location read them. Loading touches no network and no database: secrets bind at run time.
"""

from __future__ import annotations

from dagster import Definitions

from airtable_pg.dagster import build_defs
from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.postgres.migrate import mirror_versions
from airtable_pg.settings import Settings, load_settings
from airtable_pg.spec import SyncSpec, load_spec


def build_definitions(spec: SyncSpec, settings: Settings | None = None) -> Definitions:
    settings = settings or load_settings(use_dev_stack=False)
    return Definitions.merge(
        build_defs(spec, migrations=mirror_versions(settings), settings=settings),
        # This project's own default, for runs launched from the UI ("Materialize all", one asset); the library
        # sets executors on its jobs only, leaving a host project's default alone.
        Definitions(executor=SYNC_EXECUTOR),
    )


_settings = load_settings(use_dev_stack=False)  # the code location's environment is set by whoever runs it
defs = build_definitions(load_spec(_settings.spec_path), _settings)
