"""Unattended care of the live sync's webhooks, and their health in the Dagster UI.

The ``webhook_health`` sensor looks at each base's hook every minute (one list request per base). When a hook
is expired, deleted, disabled or no longer pinging the receiver — or has under 3 days left — it requests a
``webhook_care`` run, which refreshes, or drains and re-creates the hook and polls each table from its
watermark (``sync.live.LiveSync.care``). Only bases whose hook was set up once (`airtable-pg webhooks ensure`,
or `airtable-pg dev`) are cared for: the sensor never starts a first import on its own.

Health is recorded as an asset observation on each table of the base whenever it changes (healthy or not,
problems, cursor, expiry, last ping, last error): the asset's page shows it. The MAC secret never appears.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    sensor,
)

from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.defs.names import DEFAULT, Names
from airtable_pg.defs.resources import instance_resource
from airtable_pg.spec import SyncSpec
from airtable_pg.sync.webhook_manager import REFRESH_WHEN_LESS_THAN, HookHealth, WebhookManager

CARE_JOB = "webhook_care"
HEALTH_SENSOR = "webhook_health"


def health_metadata(health: HookHealth) -> dict[str, Any]:
    return {
        "webhook_id": MetadataValue.text(health.webhook_id or "-"),
        "healthy": MetadataValue.bool(health.healthy),
        "problems": MetadataValue.text("; ".join(health.problems) or "none"),
        "cursor": MetadataValue.int(health.cursor or 0),
        "expires_at": _time(health.expires_at),
        "notification_url": MetadataValue.text(health.notification_url or "none (payloads are polled)"),
        "notifications_enabled": MetadataValue.text(str(health.notifications_enabled)),
        "last_notification_at": _time(health.last_notification_at),
        "last_applied_at": _time(health.last_applied_at),
        "last_error": MetadataValue.text(health.last_error or "none"),
    }


def _time(moment: datetime | None) -> MetadataValue:
    return MetadataValue.timestamp(moment) if moment else MetadataValue.null()


def health_line(base_key: str, health: HookHealth) -> str:
    """One base's hook in words, for the sensor's tick: id, where it pings, expiry, healthy or what is wrong."""
    if health.webhook_id is None:
        return f"{base_key}: no webhook set up (airtable-pg webhooks ensure)"
    pings = f"pings {health.notification_url}" if health.notification_url else "no pings (payloads are polled)"
    expires = "expiry unknown"
    if health.expires_at is not None:
        left = (health.expires_at - datetime.now(UTC)).total_seconds() / 86400
        expires = f"expires {health.expires_at:%Y-%m-%d %H:%M} UTC ({left:.1f} days)"
    state = "healthy" if health.healthy else "UNHEALTHY: " + "; ".join(health.problems)
    return f"{base_key}: webhook {health.webhook_id} {pings}, {expires}, {state}"


def needs_care(health: HookHealth) -> bool:
    if health.webhook_id is None:
        return False  # never set up: a first hook (and its first import) is a deliberate step
    expiring = health.expires_at is not None and health.expires_at - datetime.now(UTC) < REFRESH_WHEN_LESS_THAN
    return not health.healthy or expiring


def build_webhook_definitions(spec: SyncSpec, names: Names = DEFAULT) -> Definitions:
    """The ``webhook_care`` job and the ``webhook_health`` sensor of the live sync."""

    @op(
        name=names("care_webhooks"),
        description="Refresh, or drain and re-create, each base's webhook, then poll the gap from each watermark.",
        required_resource_keys={names.resource},
    )
    def care_webhooks(context: OpExecutionContext) -> None:
        runtime = instance_resource(context, names).step_runtime(spec)
        live = runtime.live()
        bases = [base for base in spec.bases.values() if live.manager.stored(base) is not None]
        for result in live.care(runtime.receiver_url, bases):
            hook = result.ensured.hook
            context.log.info(
                f"{result.base}: webhook {hook.webhook_id} "
                f"{'re-created' if result.ensured.created else 'kept'}; gap poll of {len(result.gap_poll)} table(s)"
            )

    @job(name=names(CARE_JOB), tags={"airtable_pg/trigger": "webhook_health"}, executor_def=SYNC_EXECUTOR)
    def webhook_care() -> None:
        care_webhooks()

    @sensor(
        name=names(HEALTH_SENSOR),
        job=webhook_care,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Checks each base's webhook every minute; requests webhook_care when one needs it.",
        required_resource_keys={names.resource},
    )
    def webhook_health(context: SensorEvaluationContext, **_resources: object) -> SensorResult | SkipReason:
        # The resource is read from the context; a sensor called directly (tests) also gets it as a keyword.
        runtime = instance_resource(context, names).sensor_runtime(spec)
        if isinstance(runtime, SkipReason):
            return runtime  # one line on the sensor's tick; the next tick checks again
        manager = WebhookManager(runtime.db, runtime.api())
        previous = json.loads(context.cursor) if context.cursor else {}
        observations, runs, summary, lines = [], [], {}, []
        for base in spec.bases.values():
            health = manager.health(base, runtime.receiver_url)
            # The cursor is what the sensor's page shows: readable keys, not a tuple.
            summary[base.key] = {
                "webhook": health.webhook_id, "healthy": health.healthy, "problems": health.problems,
                "cursor": health.cursor,
            }  # fmt: skip
            lines.append(health_line(base.key, health))
            if summary[base.key] != previous.get(base.key):
                observations += [
                    AssetObservation(
                        asset_key=names.table_asset_key(base.key, table.key), metadata=health_metadata(health)
                    )
                    for table in base.tables.values()
                ]
            if needs_care(health):
                # One run per unhealthy state: the same problems seen again on the next tick ask for nothing new.
                state = hashlib.sha1(json.dumps(summary[base.key], sort_keys=True).encode()).hexdigest()[:12]
                runs.append(RunRequest(run_key=f"{base.key}:{state}"))
        context.update_cursor(json.dumps(summary))
        message = "; ".join(lines)
        if runs:
            context.log.info(message)  # a tick that requests care shows its run; the reason is in its log
            return SensorResult(run_requests=runs[:1], asset_events=observations)
        return SensorResult(skip_reason=SkipReason(message), asset_events=observations)

    return Definitions(jobs=[webhook_care], sensors=[webhook_health])
