"""Cutover readiness in the Dagster UI: per table, the verdict of `airtable-pg cutover status`.

The ``cutover_readiness`` sensor reads the gates' latest stored results (Postgres only, no Airtable request)
every five minutes and records an observation on each table asset whenever its verdict changes: ``ready``,
and each gate's state (passed, warning, failed, stale, never run) with its reason.
"""

import json
from datetime import UTC, datetime

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

from airtable_pg.checks.cutover import cutover_status
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.postgres.check_results import latest_results
from airtable_pg.spec import SyncSpec

READINESS_SENSOR = "cutover_readiness"


def build_readiness_sensor(spec: SyncSpec, names: Names = DEFAULT) -> SensorDefinition:
    @sensor(
        name=names(READINESS_SENSOR),
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.RUNNING,
        description="Records each table's cutover verdict (every gate's latest result) on its asset when it changes.",
        required_resource_keys={names.resource},
    )
    def cutover_readiness(context: SensorEvaluationContext, **_resources: object) -> SensorResult | SkipReason:
        # The resource is read from the context; a sensor called directly (tests) also gets it as a keyword.
        runtime = instance_resource(context, names).sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime
        entities = cutover_status(spec, latest_results(runtime.db), datetime.now(UTC))
        previous = json.loads(context.cursor) if context.cursor else {}
        verdicts, events = {}, []
        for entity in entities:
            verdicts[entity.table] = [entity.ready, [[g.check, g.state] for g in entity.gates]]
            if verdicts[entity.table] == previous.get(entity.table):
                continue
            base_key, table_key = entity.table.split(".", 1)
            metadata = {"cutover_ready": MetadataValue.bool(entity.ready)}
            metadata |= {f"gate_{g.check}": MetadataValue.text(f"{g.state}: {g.reason}") for g in entity.gates}
            events.append(AssetObservation(asset_key=names.table_asset_key(base_key, table_key), metadata=metadata))
        return SensorResult(asset_events=events, cursor=json.dumps(verdicts))

    return cutover_readiness
