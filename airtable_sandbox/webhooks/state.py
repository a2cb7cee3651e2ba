"""The webhooks' state: every base's hooks, the one lock that guards them, and the ping settings.

The routes, the payload recording and the ping thread all change hooks; each takes this object and holds its lock,
so none of them reaches into another. The ping thread waits on the same lock (a condition) for work to be due.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

from airtable_sandbox.clock import Clock
from airtable_sandbox.webhooks.hooks import EXPIRED_HOOK_RETENTION_SECONDS, PingState

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.hooks import Hook
    from airtable_sandbox.webhooks.store_reads import RecordStore


class WebhooksState:
    def __init__(
        self, store: RecordStore, clock: Clock, *, notification_delay_ms: float, drop_notification_ratio: float
    ) -> None:
        self.store = store
        self.clock = clock
        # One lock for hooks, payloads and ping state; the delivery thread waits on it for work.
        self.cond = threading.Condition()
        self.hooks: dict[str, dict[str, Hook]] = {}  # base id -> hook id -> hook (insertion = creation order)
        self.stopped = False
        # Read when a ping is requested, under the lock: a change at runtime applies to pings requested after it.
        self.notification_delay_seconds = checked_delay_ms(notification_delay_ms) / 1000
        self.drop_ratio = checked_ratio(drop_notification_ratio)
        self.random = random.Random()

    def expire(self, now: float) -> None:
        """Drop payloads past retention and hooks expired for longer than their grace period. Caller holds the lock."""
        for base_hooks in self.hooks.values():
            for hook_id, hook in list(base_hooks.items()):
                hook.drop_old_payloads(now)
                if now >= hook.expiration_time + EXPIRED_HOOK_RETENTION_SECONDS:
                    del base_hooks[hook_id]
                    hook.ping = PingState()

    def find(self, base_id: str, webhook_id: str) -> Hook | None:
        """Caller holds the lock."""
        return self.hooks.get(base_id, {}).get(webhook_id)

    def is_registered(self, hook: Hook) -> bool:
        """Whether ``hook`` is still the base's hook of that id (not deleted or expired away). Caller holds the lock."""
        return self.find(hook.base_id, hook.id) is hook


def checked_delay_ms(delay_ms: float) -> float:
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int | float) or delay_ms < 0:
        raise ValueError(f"notification_delay_ms must be a non-negative number, got {delay_ms!r}")
    return float(delay_ms)


def checked_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ValueError(f"drop_notification_ratio must be a number between 0 and 1, got {ratio!r}")
    return float(ratio)
