"""What the live sync applied, recorded in Dagster without a run.

The webhook applier runs in its own long-lived process (`airtable-pg webhooks apply --follow`), because a
Dagster run costs seconds to launch and the users' fast lane counts in seconds. Each table a pass changed is
recorded on the Dagster instance as a runless asset materialization, followed by a verdict for every gate
(``checks.after_change``: freshness and links evaluated, the costly ones carried forward); a table whose payloads
changed nothing gets an observation. Recording runs on a thread of its own, in order, after the pass committed:
it never delays the next pass, so the fast lane's latency does not include it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from airtable_pg.checks.after_change import gates_after_change
from airtable_pg.checks.context import CheckContext
from airtable_pg.defs.instance_events import DagsterRecorder, recorder_for, tally_changed
from airtable_pg.spec import SyncSpec
from airtable_pg.sync.webhook_applier import ApplyReport

log = logging.getLogger(__name__)

Reporter = Callable[[list[ApplyReport]], None]


def materialization_reporter(spec: SyncSpec, checks: CheckContext, recorder: DagsterRecorder) -> Reporter:
    """A reporter that records each pass's changes and their gates in the background, one pass after another."""
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dagster-record")

    def record(reports: list[ApplyReport]) -> None:
        for applied in reports:
            base = next(b for b in spec.bases.values() if b.key == applied.base)
            for table_key, tally in applied.by_table.items():
                table = base.tables[table_key]
                # Verdicts first: the materialization and its verdicts then land a few milliseconds apart.
                verdicts = gates_after_change(checks, base, table) if tally_changed(tally) else None
                recorder.applied(base.key, table_key, tally, applied.cursor)
                if verdicts is not None:
                    recorder.gates(base, table, verdicts)

    def report(reports: list[ApplyReport]) -> None:
        future = background.submit(record, reports)
        future.add_done_callback(_log_failure)

    return report


def _log_failure(future) -> None:  # type: ignore[no-untyped-def]
    error = future.exception()
    if error is not None:  # the change is applied and stays so; only its record in the Dagster UI is missing
        log.warning("could not record a webhook pass on the Dagster instance: %s", error)


__all__ = ["Reporter", "materialization_reporter", "recorder_for"]
