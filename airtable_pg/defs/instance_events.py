"""Syncs and gate verdicts made outside a Dagster run, recorded on the Dagster instance as runless events.

The Dagster UI is where people watch the sync, so it must hear of every change wherever it was made: a Dagster
run records its own, and this module records the rest (``airtable-pg dev``'s first import, ``airtable-pg sync``,
the webhook applier, ``airtable-pg checks run``).

* A sync or webhook pass that changed rows is an asset **materialization**, with the same metadata as a run's
  (``defs.assets.materialization_metadata``); one that changed nothing is an **observation**: it still proves
  the table is fresh, but the data did not change.
* Each recorded materialization is followed by a verdict for every gate (``checks.after_change``), aimed at
  that materialization, so the UI never shows a gate "Not Evaluated" for data it has judged. A carried-forward
  verdict says so and when it was evaluated.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DagsterInstance,
    MetadataValue,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from airtable_pg.checks.after_change import GateVerdicts, gates_after_change
from airtable_pg.checks.context import CheckContext
from airtable_pg.checks.result import CheckResult
from airtable_pg.defs.assets import materialization_metadata
from airtable_pg.defs.checks import evaluation, latest_materialization
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.postgres.check_results import StoredResult
from airtable_pg.settings import Settings
from airtable_pg.spec import BaseSpec, TableSpec
from airtable_pg.sync.engine import SyncResult

log = logging.getLogger(__name__)

CHANGE_COUNTS = ("inserted", "updated", "restored", "tombstoned")


def changed_rows(result: SyncResult) -> bool:
    """Whether a sync changed the mirror (rows written or tombstoned), which makes it a materialization."""
    return any(getattr(result, name) for name in CHANGE_COUNTS)


def tally_changed(tally: Mapping[str, int]) -> bool:
    """Whether a webhook pass changed a table (its per-table counts), which makes it a materialization."""
    return any(tally.get(name) for name in CHANGE_COUNTS)


class DagsterRecorder:
    """Runless events on one Dagster instance; every method is safe to call from a worker thread."""

    def __init__(self, instance: DagsterInstance, names: Names = DEFAULT) -> None:
        self.instance = instance
        self.names = names  # the prefix build_defs was given, so events land on that instance's assets

    def sync(self, base: BaseSpec, table: TableSpec, result: SyncResult, *, source: str) -> bool:
        """Record one table's sync; returns whether it was a materialization (else an observation)."""
        metadata = {**materialization_metadata(result, base, table), "source": MetadataValue.text(source)}
        asset_key = self.names.table_asset_key(base.key, table.key)
        if changed_rows(result):
            description = f"{result.mode} sync by {source} (no Dagster run)."
            self.instance.report_runless_asset_event(AssetMaterialization(asset_key, description, metadata))
            return True
        description = f"{result.mode} sync by {source}: nothing changed (no Dagster run)."
        self.instance.report_runless_asset_event(AssetObservation(asset_key, description, metadata))
        return False

    def applied(self, base_key: str, table_key: str, tally: Mapping[str, int], cursor: int | None) -> bool:
        """Record what one webhook pass applied to one table; returns whether it was a materialization."""
        metadata: dict[str, Any] = {name: MetadataValue.int(count) for name, count in tally.items()}
        metadata["mode"] = MetadataValue.text("webhook")
        metadata["webhook_cursor"] = MetadataValue.int(cursor or 0)
        asset_key = self.names.table_asset_key(base_key, table_key)
        if tally_changed(tally):
            description = "Changes applied from Airtable's webhook payloads (no run)."
            self.instance.report_runless_asset_event(AssetMaterialization(asset_key, description, metadata))
            return True
        description = "Webhook payloads of this table applied; nothing changed (no run)."
        self.instance.report_runless_asset_event(AssetObservation(asset_key, description, metadata))
        return False

    def gates(self, base: BaseSpec, table: TableSpec, verdicts: GateVerdicts) -> None:
        """A verdict per gate, aimed at the table's latest materialization."""
        asset_key = self.names.table_asset_key(base.key, table.key)
        target = latest_materialization(self.instance, asset_key)
        for result in verdicts.evaluated:
            self.instance.report_runless_asset_event(evaluation(asset_key, result, target))
        now = datetime.now(UTC)
        for stored in verdicts.carried:
            self.instance.report_runless_asset_event(carried_evaluation(asset_key, stored, target, now))

    def check_results(self, base: BaseSpec, table: TableSpec, results: list[CheckResult]) -> None:
        """Verdicts evaluated outside a run (``airtable-pg checks run``), so the UI agrees with ``cutover status``."""
        asset_key = self.names.table_asset_key(base.key, table.key)
        target = latest_materialization(self.instance, asset_key)
        for result in results:
            self.instance.report_runless_asset_event(evaluation(asset_key, result, target))



def carried_evaluation(
    asset_key: AssetKey,
    stored: StoredResult,
    target: AssetCheckEvaluationTargetMaterializationData | None,
    now: datetime,
) -> AssetCheckEvaluation:
    age = max(0.0, (now - stored.checked_at).total_seconds())
    metadata: dict[str, Any] = {
        "reason": MetadataValue.text(stored.reason),
        "carried_forward": MetadataValue.bool(True),
        "evaluated_at": MetadataValue.timestamp(stored.checked_at),
        "age_seconds": MetadataValue.float(round(age, 1)),
        "failing_ids": MetadataValue.json(stored.failing_ids),
        "details": MetadataValue.json(stored.details),
    }
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=stored.check,
        passed=stored.passed,
        metadata=metadata,
        target_materialization_data=target,
        severity=AssetCheckSeverity.WARN if stored.severity == "warn" else AssetCheckSeverity.ERROR,
        description=f"{stored.reason} (evaluated {age:.0f} s ago; carried forward to this change)",
        blocking=True,
    )


def recorder_for(settings: Settings) -> DagsterRecorder | None:
    """The recorder of the configured Dagster instance (``DAGSTER_HOME``), or ``None`` when there is none."""
    if settings.dagster_home is None:
        return None
    storage = settings.dagster_pg_url.get_secret_value() if settings.dagster_pg_url is not None else None
    return recorder_at(settings.dagster_home, storage, Names(settings.dagster_prefix))


def recorder_at(dagster_home: Path, storage_url: str | None, names: Names = DEFAULT) -> DagsterRecorder | None:
    """The recorder of the instance configured in ``dagster_home``; ``None`` (and a warning) if it cannot open.

    dagster.yaml reads its storage URL from ``DAGSTER_PG_URL``; a command beside ``airtable-pg dev`` learns it from
    the stack's dev.json and passes it on in its own environment, as dev's children get it.
    """
    if storage_url is not None and not os.environ.get("DAGSTER_PG_URL"):
        os.environ["DAGSTER_PG_URL"] = storage_url
    try:
        return DagsterRecorder(DagsterInstance.from_config(str(dagster_home)), names)
    except Exception as error:  # noqa: BLE001 - the sync stands; only its record in the UI is missing
        log.warning("cannot open the Dagster instance at %s (nothing recorded there): %s", dagster_home, error)
        return None


@dataclass
class Recorded:
    """What a command recorded on the instance: for the line it prints."""

    materialized: list[str] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)
    gates_evaluated: int = 0
    gates_carried: int = 0

    def line(self) -> str:
        return (
            f"recorded in Dagster: {len(self.materialized)} materialization(s), {len(self.observed)} observation(s) "
            f"(nothing changed); gates: {self.gates_evaluated} evaluated, {self.gates_carried} carried forward"
        )


def record_syncs(
    recorder: DagsterRecorder, checks: CheckContext, results: Sequence[SyncResult], *, source: str
) -> Recorded:
    """Each table's sync as a materialization (with a verdict per gate) or an observation."""
    recorded = Recorded()
    for result in results:
        base, table = checks.spec.table(result.base, result.table)
        # Verdicts first: the materialization and its verdicts then land a few milliseconds apart.
        verdicts = gates_after_change(checks, base, table) if changed_rows(result) else None
        if recorder.sync(base, table, result, source=source) and verdicts is not None:
            recorder.gates(base, table, verdicts)
            recorded.materialized.append(f"{base.key}.{table.key}")
            recorded.gates_evaluated += len(verdicts.evaluated)
            recorded.gates_carried += len(verdicts.carried)
        else:
            recorded.observed.append(f"{base.key}.{table.key}")
    return recorded
