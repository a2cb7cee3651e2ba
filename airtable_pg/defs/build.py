"""One airtable_pg instance as Dagster ``Definitions``: what ``airtable_pg.dagster.build_defs`` returns.

Built from the spec alone: loading touches no network and no database, and reads no setting unless given
``settings`` (the runtime resource reads the environment at run time instead). Each feature's factory returns
its own definitions and this module merges them; every name carries the instance's prefix (``defs.names``), and
each job carries its executor, so a project holding several instances keeps its own default executor.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions

from airtable_pg.defs.alerts import build_alert_definitions
from airtable_pg.defs.archive import build_archive_definitions
from airtable_pg.defs.assets import build_table_assets
from airtable_pg.defs.baseline import build_baseline_definitions
from airtable_pg.defs.checks import (
    FULL_SYNC_ONLY,
    build_check_jobs,
    build_freshness_sensor,
    build_table_checks,
    check_keys,
)
from airtable_pg.defs.cutover import build_readiness_sensor
from airtable_pg.defs.cutover_jobs import build_cutover_jobs
from airtable_pg.defs.flags import build_flags_sensor
from airtable_pg.defs.instance_config import check_instance_config
from airtable_pg.defs.jobs import build_sync_jobs
from airtable_pg.defs.names import Names
from airtable_pg.defs.outbound import build_outbound_definitions
from airtable_pg.defs.polls import build_computed_refresh_sensors, build_poll_sensors
from airtable_pg.defs.resources import AirtablePgResource, runtime_resource
from airtable_pg.defs.webhooks import build_webhook_definitions
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg.settings import ConfigError, Settings
from airtable_pg.spec import SyncSpec, load_spec

SpecSource = SyncSpec | str | os.PathLike[str] | None


def build_defs(
    spec: SpecSource = None,
    *,
    prefix: str | None = None,
    migrations: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    resource: AirtablePgResource | None = None,
) -> Definitions:
    """Assets, checks, jobs, sensors, schedules and the runtime resource of one spec.

    ``spec``: a ``SyncSpec`` or the path of its YAML file (none: the packaged demo spec). ``migrations``: the
    directory of that spec's mirror revisions (required with a spec of your own; the demo's ship in the package).
    ``prefix``: put before every name and asset key, so several specs can live in one project. ``settings``: the
    non-secret settings shown in the UI and used at run time (none: the run's environment). ``resource``: a
    runtime resource of your own (other variables for the secrets, say) instead of the default binding.
    """
    names = Names(prefix)
    sync_spec, versions = _spec_and_migrations(spec, migrations)
    table_assets = build_table_assets(sync_spec, names=names)
    table_checks = build_table_checks(sync_spec, names)
    costly_checks = check_keys(table_checks, FULL_SYNC_ONLY)
    core = Definitions(
        assets=table_assets,
        asset_checks=table_checks,
        jobs=build_sync_jobs(table_assets, not_after_incremental=costly_checks, names=names),
        sensors=[
            *build_poll_sensors(sync_spec, costly_checks=FULL_SYNC_ONLY, names=names),
            *build_computed_refresh_sensors(sync_spec, names),
            build_readiness_sensor(sync_spec, names),
            build_freshness_sensor(sync_spec, names),
            build_flags_sensor(sync_spec, names),
        ],
        resources={names.resource: resource or runtime_resource(versions, settings)},
    )
    dagster_home = os.environ.get("DAGSTER_HOME")
    if dagster_home:  # the instance this code location serves: say at load what its dagster.yaml lacks
        check_instance_config(Path(dagster_home))
    return Definitions.merge(
        core,
        build_check_jobs(table_checks, names),
        build_webhook_definitions(sync_spec, names),
        build_outbound_definitions(sync_spec, names),
        build_alert_definitions(sync_spec, names),
        build_cutover_jobs(sync_spec, names),
        build_archive_definitions(sync_spec, names),
        build_baseline_definitions(sync_spec, names),
    )


def _spec_and_migrations(spec: SpecSource, migrations: str | os.PathLike[str] | None) -> tuple[SyncSpec, Path]:
    if migrations is not None:
        versions = Path(migrations).resolve()
    elif spec is None:
        versions = DEMO_VERSIONS
    else:
        raise ConfigError(
            "build_defs: a spec of your own keeps its mirror-table migrations in a directory of your own; "
            "pass migrations=… (it may be empty at first)"
        )
    if isinstance(spec, SyncSpec):
        return spec, versions
    return load_spec(Path(spec) if spec is not None else None), versions
