"""Backend flags in the Dagster UI: on each table asset, where its reads are served from and since when.

The ``backend_flags`` sensor reads the stored flags (Postgres only) every 30 seconds and records an observation on
a table's asset when its flag changes: the mode, since when, by whom and why. An environment pin belongs to the
process that has it (the API's, an app's), so the UI shows the stored flag and ``airtable-pg flags show`` the pins.
"""

from __future__ import annotations

import json

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.routing.flags import BackendFlags, EntityFlag
from airtable_pg.spec import SyncSpec

FLAGS_SENSOR = "backend_flags"


def flag_metadata(flag: EntityFlag) -> dict[str, MetadataValue]:
    metadata = {"backend": MetadataValue.text(flag.stored), "backend_version": MetadataValue.int(flag.version)}
    if flag.since is not None:
        metadata["backend_since"] = MetadataValue.timestamp(flag.since)
        metadata["backend_changed_by"] = MetadataValue.text(flag.updated_by or "")
        metadata["backend_reason"] = MetadataValue.text(flag.reason or "")
    return metadata


def build_flags_sensor(spec: SyncSpec, names: Names = DEFAULT) -> SensorDefinition:
    @sensor(
        name=names(FLAGS_SENSOR),
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Records each table's backend flag (airtable, shadow, postgres_primary) on its asset on change.",
        required_resource_keys={names.resource},
    )
    def backend_flags(context: SensorEvaluationContext, **_resources: object) -> SensorResult | SkipReason:
        runtime = instance_resource(context, names).sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime
        seen = json.loads(context.cursor) if context.cursor else {}
        events, now = [], {}
        for flag in BackendFlags(runtime.db, spec, environ={}).all():
            now[flag.entity] = [flag.stored, flag.version]
            if seen.get(flag.entity) == now[flag.entity]:
                continue
            base_key, table_key = flag.entity.split(".", 1)
            description = f"Reads served from {flag.stored}" + (
                f" since {flag.since:%Y-%m-%d %H:%M:%S %Z}" if flag.since else ""
            )
            events.append(
                AssetObservation(
                    asset_key=names.table_asset_key(base_key, table_key),
                    description=description,
                    metadata=flag_metadata(flag),
                )
            )
        return SensorResult(asset_events=events, cursor=json.dumps(now))

    return backend_flags
