"""The webhooks service: hooks per base, fed by the store's transactions, served by the routes."""

from __future__ import annotations

import logging
import random
import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import requests

from airtable_sandbox.clock import Clock
from airtable_sandbox.events import Transaction
from airtable_sandbox.http import ApiError, Route
from airtable_sandbox.webhooks import api
from airtable_sandbox.webhooks.cells import CellConverter
from airtable_sandbox.webhooks.delivery import _checked_ratio, deliver_forever, request_ping
from airtable_sandbox.webhooks.hooks import EXPIRED_HOOK_RETENTION_SECONDS, PingState
from airtable_sandbox.webhooks.payloads import ConvertedTransaction, build_payloads, error_payload

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.hooks import Hook

log = logging.getLogger(__name__)


class WebhookService:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        *,
        notification_retry_base_seconds: float = 10.0,
        drop_notification_ratio: float = 0.0,
        max_notification_retries: int = 13,
        notification_timeout_seconds: float = 25.0,
        notification_delay_ms: float = 0.0,
    ):
        self._store = store
        self._clock = clock
        self._retry_base = notification_retry_base_seconds
        self._drop_ratio = _checked_ratio(drop_notification_ratio)
        self._max_retries = max_notification_retries
        self._timeout = notification_timeout_seconds
        self._notification_delay_seconds = _checked_delay_ms(notification_delay_ms) / 1000
        self._random = random.Random()
        # One lock for hooks, payloads and ping state; the delivery thread waits on it for work.
        self._cond = threading.Condition()
        self._hooks: dict[str, dict[str, Hook]] = {}  # base id -> hook id -> hook (insertion = creation order)
        self._stopped = False
        self._session = requests.Session()
        self._thread = threading.Thread(
            target=partial(deliver_forever, self), name="sandbox-webhook-pings", daemon=True
        )
        self._thread.start()

    # -- wiring -------------------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        hooks = "v0/bases/:base_id/webhooks"
        return [
            Route("POST", hooks, partial(api.create_hook, self)),
            Route("GET", hooks, partial(api.list_hooks, self)),
            Route("DELETE", f"{hooks}/:webhook_id", partial(api.delete_hook, self)),
            Route("POST", f"{hooks}/:webhook_id/refresh", partial(api.refresh_hook, self)),
            Route("POST", f"{hooks}/:webhook_id/enableNotifications", partial(api.enable_notifications, self)),
            Route("GET", f"{hooks}/:webhook_id/payloads", partial(api.list_payloads, self)),
        ]

    def on_transaction(self, tx: Transaction) -> None:
        now = self._clock.time()
        with self._cond:
            self._expire(now)
            hooks = [hook for hook in self._hooks.get(tx.base_id, {}).values() if hook.is_enabled(now)]
        if not hooks:
            return
        broken = self._invalidated(tx, hooks)
        # Conversion reads the store, so it runs outside our lock: the store may call us while holding its own.
        converted = ConvertedTransaction(tx, CellConverter(self._store, tx.base_id))
        built = [
            (hook, [error_payload(tx, INVALID_HOOK)] if hook in broken else build_payloads(hook.spec, converted))
            for hook in hooks
        ]
        with self._cond:
            for hook, payloads in built:
                if payloads and self._hooks.get(tx.base_id, {}).get(hook.id) is hook:
                    if hook in broken:
                        hook.error_code = INVALID_HOOK
                    for body in payloads:
                        hook.add_payload(body, now)
                    request_ping(self, hook, now)

    def _invalidated(self, tx: Transaction, hooks: list[Hook]) -> list[Hook]:
        """The hooks a destroyed table or field leaves without their scope or watched fields."""
        if not tx.destroyed_tables and not any(table.destroyed_fields for table in tx.tables):
            return []
        tables = _base_tables(self._store, tx.base_id)
        table_ids = {table["id"] for table in tables}
        field_ids = {field["id"] for table in tables for field in table.get("fields", [])}
        return [hook for hook in hooks if not hook.spec.depends_on(table_ids, field_ids)]

    @property
    def notification_delay_ms(self) -> float:
        """How long after a change its notification ping is sent (0 = at once)."""
        with self._cond:
            return self._notification_delay_seconds * 1000

    def set_notification_delay_ms(self, delay_ms: float) -> None:
        """Change the ping delay at runtime; raises ``ValueError`` below 0. Pings already due keep their time."""
        checked = _checked_delay_ms(delay_ms)
        with self._cond:
            self._notification_delay_seconds = checked / 1000

    @property
    def drop_notification_ratio(self) -> float:
        """Share of notification pings silently dropped (0 = none, 1 = all)."""
        with self._cond:
            return self._drop_ratio

    def set_drop_notification_ratio(self, ratio: float) -> None:
        """Change the share of dropped pings at runtime; raises ``ValueError`` outside 0–1.

        Applies to pings requested from now on: a ping already pending or in flight is still sent.
        """
        checked = _checked_ratio(ratio)
        with self._cond:
            self._drop_ratio = checked

    def ping_pending(self, base_id: str, webhook_id: str) -> bool:
        """Whether a notification ping of the hook is due, in flight or waiting for a retry.

        A change requests its ping synchronously, so right after the change's request returned this says for
        certain whether a ping will be sent: a test of a dropped or disabled ping needs no waiting.
        """
        with self._cond:
            hook = self._hooks.get(base_id, {}).get(webhook_id)
            return hook is not None and (hook.ping.due_at is not None or hook.ping.in_flight)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        # A ping in flight may hold the thread for up to the delivery timeout; it is a daemon, so don't wait that long.
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._session.close()

    def _expire(self, now: float) -> None:
        """Drop payloads past retention and hooks expired for longer than their grace period. Caller holds the lock."""
        for base_hooks in self._hooks.values():
            for hook_id, hook in list(base_hooks.items()):
                hook.drop_old_payloads(now)
                if now >= hook.expiration_time + EXPIRED_HOOK_RETENTION_SECONDS:
                    del base_hooks[hook_id]
                    hook.ping = PingState()


INVALID_HOOK = "INVALID_HOOK"


def _checked_delay_ms(delay_ms: float) -> float:
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int | float) or delay_ms < 0:
        raise ValueError(f"notification_delay_ms must be a non-negative number, got {delay_ms!r}")
    return float(delay_ms)


def _base_tables(store: Any, base_id: str) -> list[dict[str, Any]]:
    try:
        return store.base_tables(base_id)
    except (ApiError, KeyError, LookupError):
        return []
