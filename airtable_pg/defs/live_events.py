"""What the live sync applied, recorded in Dagster without a run.

The webhook applier runs in its own long-lived process (`airtable-pg webhooks apply --follow`), because a
Dagster run costs seconds to launch and the users' fast lane counts in seconds. Each table a pass changed is
recorded on the Dagster instance as a runless asset materialization (``report_runless_asset_event``), so the
asset's page shows every webhook-applied change beside the full and incremental syncs.
"""

from collections.abc import Callable

from dagster import AssetMaterialization, DagsterInstance, MetadataValue

from airtable_pg.defs.lineage import table_asset_key
from airtable_pg.settings import Settings
from airtable_pg.sync.webhook_applier import ApplyReport

Reporter = Callable[[list[ApplyReport]], None]


def materialization_reporter(settings: Settings) -> Reporter | None:
    """A reporter on the configured Dagster instance (``DAGSTER_HOME``); ``None`` when there is none."""
    if settings.dagster_home is None:
        return None
    instance = DagsterInstance.get()

    def report(reports: list[ApplyReport]) -> None:
        for applied in reports:
            for table_key, tally in applied.by_table.items():
                metadata = {name: MetadataValue.int(count) for name, count in tally.items()}
                metadata["mode"] = MetadataValue.text("webhook")
                metadata["webhook_cursor"] = MetadataValue.int(applied.cursor or 0)
                instance.report_runless_asset_event(
                    AssetMaterialization(
                        asset_key=table_asset_key(applied.base, table_key),
                        description="Changes applied from Airtable's webhook payloads (no run).",
                        metadata=metadata,
                    )
                )

    return report
