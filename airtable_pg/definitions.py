"""The Dagster code location: ``dagster … -m airtable_pg.definitions`` or ``-w workspace.yaml``.

Everything is built from the sync spec (``AIRTABLE_PG_SPEC``, else the packaged demo spec), so a
table added to the spec is an asset the next time the code location loads. Loading touches no
network and no database: resources bind their secrets from the environment at run time.
"""

from __future__ import annotations

from dagster import Definitions

from airtable_pg.defs.assets import build_table_assets
from airtable_pg.defs.checks import (
    FULL_SYNC_ONLY,
    build_check_jobs,
    build_freshness_sensor,
    build_table_checks,
    check_keys,
)
from airtable_pg.defs.cutover import build_readiness_sensor
from airtable_pg.defs.jobs import SYNC_EXECUTOR, build_sync_jobs
from airtable_pg.defs.outbound import build_outbound_definitions
from airtable_pg.defs.polls import build_computed_refresh_sensors, build_poll_sensors
from airtable_pg.defs.resources import resources
from airtable_pg.defs.webhooks import build_webhook_definitions
from airtable_pg.settings import Settings, load_settings
from airtable_pg.spec import SyncSpec, load_spec


def build_definitions(spec: SyncSpec, settings: Settings | None = None) -> Definitions:
    settings = settings or load_settings(use_dev_stack=False)
    table_assets = build_table_assets(spec)
    webhook_jobs, webhook_sensors = build_webhook_definitions(spec, settings)
    outbound_jobs, outbound_sensors = build_outbound_definitions(spec, settings)
    table_checks = build_table_checks(spec)
    check_jobs, check_schedules = build_check_jobs(table_checks)
    costly_checks = check_keys(table_checks, FULL_SYNC_ONLY)
    sync_jobs = build_sync_jobs(table_assets, not_after_incremental=costly_checks)
    poll_sensors = build_poll_sensors(spec, costly_checks=FULL_SYNC_ONLY)
    return Definitions(
        assets=table_assets,
        asset_checks=table_checks,
        jobs=[*sync_jobs, *check_jobs, *webhook_jobs, *outbound_jobs],
        schedules=check_schedules,
        sensors=[
            *webhook_sensors,
            *poll_sensors,
            *build_computed_refresh_sensors(spec),
            build_readiness_sensor(spec),
            build_freshness_sensor(spec),
            *outbound_sensors,
        ],
        resources=resources(settings),
        executor=SYNC_EXECUTOR,  # also for runs launched from the UI ("Materialize all", one asset)
    )


_settings = load_settings(use_dev_stack=False)  # the code location's environment is set by whoever runs it
defs = build_definitions(load_spec(_settings.spec_path), _settings)
