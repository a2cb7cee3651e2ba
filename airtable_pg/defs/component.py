"""airtable_pg as a Dagster Component: ``dg scaffold defs airtable_pg.dagster.AirtablePgComponent <name>``.

A ``defs.yaml`` names the spec file, its migrations directory and the prefix, each path relative to the
component's folder; loading calls :func:`~airtable_pg.defs.build.build_defs`. The scaffolder writes that file
with a copy of the packaged demo spec beside it and an empty migrations directory, so the new folder loads at
once; replace the spec with yours (``airtable-pg spec pull``) and add its first revision (``airtable-pg db
revision``) before the first run.
"""

from __future__ import annotations

import shutil

from dagster import Component, ComponentLoadContext, Definitions, Model, Resolvable, Scaffolder, ScaffoldRequest
from dagster.components import scaffold_component
from dagster.components.scaffold.scaffold import scaffold_with

from airtable_pg.defs.build import build_defs
from airtable_pg.spec import default_spec_path

SPEC_FILE = "airtable_pg_spec.yaml"
MIGRATIONS_DIR = "migrations"


class AirtablePgScaffolder(Scaffolder):
    def scaffold(self, request: ScaffoldRequest) -> None:
        request.target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(default_spec_path(), request.target_path / SPEC_FILE)
        (request.target_path / MIGRATIONS_DIR).mkdir(exist_ok=True)
        prefix = request.target_path.name if request.target_path.name.isidentifier() else None
        scaffold_component(request, {"spec": SPEC_FILE, "migrations": MIGRATIONS_DIR, "prefix": prefix})


@scaffold_with(AirtablePgScaffolder)
class AirtablePgComponent(Component, Model, Resolvable):
    """Mirror Airtable bases in PostgreSQL: one asset per table, cutover gates as asset checks, sensors for the
    live sync, the outbox and the polls. Secrets come from AIRTABLE_API_KEY and DATABASE_URL at run time."""

    spec: str = SPEC_FILE
    migrations: str = MIGRATIONS_DIR
    prefix: str | None = None

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        return build_defs(context.path / self.spec, prefix=self.prefix, migrations=context.path / self.migrations)
