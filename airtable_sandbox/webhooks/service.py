"""The webhooks' one door: ``WebhookService`` records each transaction as payloads and serves the routes.

It builds the state, the routes and the ping thread, and records payloads when the store publishes a transaction;
the routes (``api``) and the pings (``delivery``) work on the state alone, so nothing imports this module but the
package's face.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airtable_sandbox.clock import Clock
from airtable_sandbox.events import Transaction
from airtable_sandbox.http import Route
from airtable_sandbox.webhooks import api, store_reads
from airtable_sandbox.webhooks.cells import CellConverter
from airtable_sandbox.webhooks.delivery import PingDelivery, request_ping
from airtable_sandbox.webhooks.payloads import ConvertedTransaction, build_payloads, error_payload
from airtable_sandbox.webhooks.state import WebhooksState, checked_delay_ms, checked_ratio

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.hooks import Hook
    from airtable_sandbox.webhooks.store_reads import RecordStore

INVALID_HOOK = "INVALID_HOOK"


class WebhookService:
    def __init__(
        self,
        store: RecordStore,
        clock: Clock,
        *,
        notification_retry_base_seconds: float = 10.0,
        drop_notification_ratio: float = 0.0,
        max_notification_retries: int = 13,
        notification_timeout_seconds: float = 25.0,
        notification_delay_ms: float = 0.0,
    ):
        self._state = WebhooksState(
            store, clock, notification_delay_ms=notification_delay_ms, drop_notification_ratio=drop_notification_ratio
        )
        self._delivery = PingDelivery(
            self._state,
            retry_base_seconds=notification_retry_base_seconds,
            max_retries=max_notification_retries,
            timeout_seconds=notification_timeout_seconds,
        )
        self._delivery.start()

    def routes(self) -> list[Route]:
        return api.routes(self._state)

    def on_transaction(self, tx: Transaction) -> None:
        state = self._state
        now = state.clock.time()
        with state.cond:
            state.expire(now)
            hooks = [hook for hook in state.hooks.get(tx.base_id, {}).values() if hook.is_enabled(now)]
        if not hooks:
            return
        broken = self._invalidated(tx, hooks)
        # Conversion reads the store, so it runs outside our lock: the store may call us while holding its own.
        converted = ConvertedTransaction(tx, CellConverter(state.store, tx.base_id))
        built = [
            (hook, [error_payload(tx, INVALID_HOOK)] if hook in broken else build_payloads(hook.spec, converted))
            for hook in hooks
        ]
        with state.cond:
            for hook, payloads in built:
                if payloads and state.is_registered(hook):
                    if hook in broken:
                        hook.error_code = INVALID_HOOK
                    for body in payloads:
                        hook.add_payload(body, now)
                    request_ping(state, hook, now)

    def _invalidated(self, tx: Transaction, hooks: list[Hook]) -> list[Hook]:
        """The hooks a destroyed table or field leaves without their scope or watched fields."""
        if not tx.destroyed_tables and not any(table.destroyed_fields for table in tx.tables):
            return []
        tables = store_reads.base_tables(self._state.store, tx.base_id) or []
        table_ids = {table["id"] for table in tables}
        field_ids = {field["id"] for table in tables for field in table.get("fields", [])}
        return [hook for hook in hooks if not hook.spec.depends_on(table_ids, field_ids)]

    @property
    def notification_delay_ms(self) -> float:
        """How long after a change its notification ping is sent (0 = at once)."""
        with self._state.cond:
            return self._state.notification_delay_seconds * 1000

    def set_notification_delay_ms(self, delay_ms: float) -> None:
        """Change the ping delay at runtime; raises ``ValueError`` below 0. Pings already due keep their time."""
        checked = checked_delay_ms(delay_ms)
        with self._state.cond:
            self._state.notification_delay_seconds = checked / 1000

    @property
    def drop_notification_ratio(self) -> float:
        """Share of notification pings silently dropped (0 = none, 1 = all)."""
        with self._state.cond:
            return self._state.drop_ratio

    def set_drop_notification_ratio(self, ratio: float) -> None:
        """Change the share of dropped pings at runtime; raises ``ValueError`` outside 0–1.

        Applies to pings requested from now on: a ping already pending or in flight is still sent.
        """
        checked = checked_ratio(ratio)
        with self._state.cond:
            self._state.drop_ratio = checked

    def ping_pending(self, base_id: str, webhook_id: str) -> bool:
        """Whether a notification ping of the hook is due, in flight or waiting for a retry.

        A change requests its ping synchronously, so right after the change's request returned this says for
        certain whether a ping will be sent: a test of a dropped or disabled ping needs no waiting.
        """
        with self._state.cond:
            hook = self._state.find(base_id, webhook_id)
            return hook is not None and (hook.ping.due_at is not None or hook.ping.in_flight)

    def stop(self) -> None:
        self._delivery.stop()
