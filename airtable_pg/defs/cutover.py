"""Cutover readiness in the Dagster UI: per table, the verdict of `airtable-pg cutover status`.

The ``cutover_readiness`` sensor reads the gates' latest stored results (Postgres only, no Airtable request)
every five minutes and records an observation on each table asset whenever its verdict changes: ``ready``,
and each gate's state (passed, warning, failed, stale, never run) with its reason.
"""

import json
from datetime import UTC, datetime

from dagster import AssetObservation, DefaultSensorStatus, MetadataValue, SensorEvaluationContext, SensorResult, sensor

from airtable_pg.checks.cutover import cutover_status
from airtable_pg.defs.lineage import table_asset_key
from airtable_pg.defs.resources import PostgresResource
from airtable_pg.postgres.check_results import latest_results
from airtable_pg.postgres.database import connection_pool
from airtable_pg.spec import SyncSpec

READINESS_SENSOR = "cutover_readiness"


def build_readiness_sensor(spec: SyncSpec):
    @sensor(
        name=READINESS_SENSOR,
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.RUNNING,
        description="Records each table's cutover verdict (every gate's latest result) on its asset when it changes.",
    )
    def cutover_readiness(context: SensorEvaluationContext, postgres: PostgresResource) -> SensorResult:
        entities = cutover_status(spec, latest_results(connection_pool(postgres.database_url)), datetime.now(UTC))
        previous = json.loads(context.cursor) if context.cursor else {}
        verdicts, events = {}, []
        for entity in entities:
            verdicts[entity.table] = [entity.ready, [[g.check, g.state] for g in entity.gates]]
            if verdicts[entity.table] == previous.get(entity.table):
                continue
            base_key, table_key = entity.table.split(".", 1)
            metadata = {"cutover_ready": MetadataValue.bool(entity.ready)}
            metadata |= {f"gate_{g.check}": MetadataValue.text(f"{g.state}: {g.reason}") for g in entity.gates}
            events.append(AssetObservation(asset_key=table_asset_key(base_key, table_key), metadata=metadata))
        return SensorResult(asset_events=events, cursor=json.dumps(verdicts))

    return cutover_readiness
