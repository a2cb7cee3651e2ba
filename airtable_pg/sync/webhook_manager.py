"""One Airtable webhook per base, kept alive: create, reuse, refresh, re-create, delete; and its health.

The hook's id, MAC secret, cursor and expiry live in ``airtable_sync.webhook``; the secret is never printed.
``ensure`` reuses a healthy hook and never leaks one (Airtable allows 10 per base): a hook it replaces is
deleted. A hook is unhealthy when Airtable no longer lists it, it is disabled (``isHookEnabled`` false, e.g.
after an ``INVALID_HOOK`` error payload), it has expired, or it notifies another URL. Notifications disabled
after failed deliveries are switched back on; payloads kept accumulating meanwhile, so nothing is lost.

What a replaced hook did not deliver is covered by its caller (``care``): the old hook's remaining payloads are
applied while Airtable still serves them, then each table is polled from its watermark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pyairtable import Api

from airtable_pg.airtable import webhooks
from airtable_pg.postgres import webhook_state
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import WebhookRecord
from airtable_pg.spec import BaseSpec

# Hooks live 7 days; refreshing when less than 3 remain leaves days of slack for a care loop that stalls.
REFRESH_WHEN_LESS_THAN = timedelta(days=3)


@dataclass
class HookHealth:
    """What the UI and `webhooks list` show about a base's hook (never its secret)."""

    base: str
    webhook_id: str | None
    healthy: bool
    problems: list[str] = field(default_factory=list)
    cursor: int | None = None
    expires_at: datetime | None = None
    notification_url: str | None = None
    notifications_enabled: bool | None = None
    last_notification_result: dict[str, Any] | None = None
    last_notification_at: datetime | None = None
    last_applied_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class EnsureResult:
    hook: WebhookRecord
    created: bool  # a new hook (id, secret, cursor 1)
    replaced: WebhookRecord | None  # the unhealthy hook it replaced, if any


class WebhookManager:
    def __init__(self, db: sa.Engine, api: Api) -> None:
        self.db = db
        self.api = api

    def stored(self, base: BaseSpec) -> WebhookRecord | None:
        with transaction(self.db) as cur:
            return webhook_state.load_webhook(cur, base.id)

    def health(self, base: BaseSpec, notification_url: str | None = None) -> HookHealth:
        stored = self.stored(base)
        if stored is None:
            return HookHealth(base.key, None, False, ["no webhook: run `airtable-pg webhooks ensure`"])
        remote = webhooks.find(webhooks.list_hooks(self.api, base.id), stored.webhook_id)
        problems = _problems(
            stored, remote, notification_url if notification_url is not None else stored.notification_url
        )
        return HookHealth(
            base=base.key,
            webhook_id=stored.webhook_id,
            healthy=not problems,
            problems=problems,
            cursor=stored.cursor,
            expires_at=webhooks.parse_time((remote or {}).get("expirationTime")) or stored.expires_at,
            notification_url=stored.notification_url,
            notifications_enabled=(remote or {}).get("areNotificationsEnabled"),
            last_notification_result=(remote or {}).get("lastNotificationResult"),
            last_notification_at=stored.last_notification_at,
            last_applied_at=stored.last_applied_at,
            last_error=stored.last_error,
        )

    def pings_elsewhere(self, base: BaseSpec, notification_url: str | None) -> WebhookRecord | None:
        """The base's hook when it is healthy and pings a receiver other than ``notification_url``.

        Re-pointing it would leave that receiver (a running ``make dev``, another deployment) without pings; its own
        health check would then re-create a hook for itself and replace this one: the two would take turns."""
        stored = self.stored(base)
        if stored is None or not stored.notification_url or stored.notification_url == notification_url:
            return None
        return stored if self.health(base).healthy else None

    def ensure(self, base: BaseSpec, notification_url: str | None) -> EnsureResult:
        """A healthy hook for ``base`` notifying ``notification_url`` (``None``: no pings, payloads are polled)."""
        stored = self.stored(base)
        remote = webhooks.find(webhooks.list_hooks(self.api, base.id), stored.webhook_id) if stored else None
        if stored is not None and remote is not None and not _problems(stored, remote, notification_url):
            self._keep_alive(base, stored, remote)
            return EnsureResult(self.stored(base) or stored, created=False, replaced=None)
        if stored is not None and remote is not None:
            webhooks.delete_hook(self.api, base.id, stored.webhook_id)  # never leak a hook: 10 per base
        spec = webhooks.specification()
        answer = webhooks.create_hook(self.api, base.id, notification_url, spec)
        hook = WebhookRecord(
            base_id=base.id,
            webhook_id=answer["id"],
            mac_secret=answer["macSecretBase64"],
            cursor=1,
            notification_url=notification_url,
            specification=spec,
            expires_at=webhooks.parse_time(answer.get("expirationTime")),
        )
        with transaction(self.db) as cur:
            webhook_state.save_webhook(cur, hook)
        return EnsureResult(hook, created=True, replaced=stored)

    def refresh(self, base: BaseSpec) -> datetime | None:
        stored = self.stored(base)
        if stored is None:
            return None
        expires_at = webhooks.refresh_hook(self.api, base.id, stored.webhook_id)
        with transaction(self.db) as cur:
            webhook_state.set_expiry(cur, base.id, expires_at)
        return expires_at

    def delete(self, base: BaseSpec) -> bool:
        stored = self.stored(base)
        if stored is None:
            return False
        if webhooks.find(webhooks.list_hooks(self.api, base.id), stored.webhook_id) is not None:
            webhooks.delete_hook(self.api, base.id, stored.webhook_id)
        with transaction(self.db) as cur:
            webhook_state.forget_webhook(cur, base.id)
        return True

    def _keep_alive(self, base: BaseSpec, stored: WebhookRecord, remote: dict[str, Any]) -> None:
        if stored.notification_url and remote.get("areNotificationsEnabled") is False:
            webhooks.enable_notifications(self.api, base.id, stored.webhook_id)
        expires_at = webhooks.parse_time(remote.get("expirationTime"))
        if expires_at is not None and expires_at - datetime.now(UTC) < REFRESH_WHEN_LESS_THAN:
            self.refresh(base)


def _problems(stored: WebhookRecord, remote: dict[str, Any] | None, notification_url: str | None) -> list[str]:
    if remote is None:
        return [f"Airtable no longer lists webhook {stored.webhook_id} (expired and gone, or deleted)"]
    problems = []
    if not remote.get("isHookEnabled", True):
        problems.append("the hook is disabled (isHookEnabled false: e.g. a watched field or table was deleted)")
    expires_at = webhooks.parse_time(remote.get("expirationTime"))
    if expires_at is not None and expires_at <= datetime.now(UTC):
        problems.append(f"the hook expired at {expires_at.isoformat()}")
    if (remote.get("notificationUrl") or None) != (notification_url or None):
        problems.append("the hook notifies another URL than the receiver's")
    if stored.last_error and stored.last_error.startswith(webhook_state.HOOK_ERROR_PREFIX):
        problems.append(stored.last_error)
    return problems
