"""The figures each table asset carries as observation metadata, so its Plots tab draws lag, queues and latency.

Dagster's UI plots every numeric metadata key of an asset's materializations and observations over time, one chart
per key; text is not plotted. So the keys here are fixed and the values numbers, and a figure that has no value
(a table never synced has no freshness age) is left out rather than written as text.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from airtable_pg.observability.alerts import Samples
from airtable_pg.postgres.live_status import latencies
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import SyncSpec

LATENCY_WINDOW = timedelta(minutes=15)

# metric → the metadata key it is plotted under, for the per-table and per-base gauges of the scrape.
TABLE_FIGURES = {
    "airtable_pg_table_freshness_age_seconds": "freshness_age_seconds",
    "airtable_pg_table_rows": "rows",
    "airtable_pg_outbox_pending": "outbox_pending",
    "airtable_pg_outbox_oldest_age_seconds": "outbox_oldest_age_seconds",
    "airtable_pg_table_tombstones": "tombstones",
    "airtable_pg_table_cell_errors": "cell_errors",
    "airtable_pg_table_missing_oldest_age_seconds": "missing_oldest_age_seconds",
}
BASE_FIGURES = {
    "airtable_pg_notifications_waiting": "notifications_waiting",
    "airtable_pg_notifications_oldest_age_seconds": "notifications_oldest_age_seconds",
    "airtable_pg_dead_letters_open": "dead_letters_open",  # summed over both directions
}


def table_figures(db: sa.Engine, spec: SyncSpec, samples: Samples) -> dict[tuple[str, str], dict[str, float]]:
    """Per (base key, table key): its numeric figures from one scrape, plus the live latency of the last 15 min."""
    figures: dict[tuple[str, str], dict[str, float]] = {(b.key, t.key): {} for b, t in spec.tables()}
    for metric, key in TABLE_FIGURES.items():
        for labels, value in samples.of(metric):
            if (labels.get("base"), labels.get("table")) in figures:
                figures[(labels["base"], labels["table"])][key] = value
    per_base: dict[str, dict[str, float]] = {}
    for metric, key in BASE_FIGURES.items():
        for labels, value in samples.of(metric):
            base = per_base.setdefault(labels.get("base", ""), {})
            base[key] = base.get(key, 0.0) + value
    for (base_key, _), found in figures.items():
        found.update(per_base.get(base_key, {}))
    with transaction(db) as cur:
        windowed = latencies(cur, LATENCY_WINDOW)
    keys = {(b.id, t.id): (b.key, t.key) for b, t in spec.tables()}
    for row in windowed:
        found = figures.get(keys.get((row.base_id, row.table_id), ("", "")))
        if found is None:
            continue
        found["changes_15m"] = float(row.changes)
        for name, value in (("p50", row.p50_seconds), ("p95", row.p95_seconds), ("p99", row.p99_seconds)):
            if value is not None:
                found[f"latency_{name}_seconds_15m"] = float(value)
    return figures
