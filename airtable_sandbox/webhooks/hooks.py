"""One webhook's state: its payloads, its expiry and its pending notification."""

from __future__ import annotations

import secrets
import string
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airtable_sandbox.clock import iso_millis

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.specification import HookSpec


DAY_SECONDS = 24 * 3600
WEBHOOK_LIFETIME_SECONDS = 7 * DAY_SECONDS
PAYLOAD_RETENTION_SECONDS = 7 * DAY_SECONDS
EXPIRED_HOOK_RETENTION_SECONDS = 7 * DAY_SECONDS  # metadata and past payloads stay readable this long


ID_ALPHABET = string.ascii_letters + string.digits


def new_webhook_id() -> str:
    return "ach" + "".join(secrets.choice(ID_ALPHABET) for _ in range(14))


@dataclass
class StoredPayload:
    number: int
    created_at: float
    body: dict[str, Any]


@dataclass
class PingState:
    """One coalesced notification for a hook: pending, in flight, or waiting for its next retry."""

    due_at: float | None = None  # None: nothing to send
    retry_number: int = 0
    timestamp: str = ""
    in_flight: bool = False
    requested_during_flight: bool = False


@dataclass
class Hook:
    id: str
    base_id: str
    secret: bytes
    notification_url: str | None
    specification: dict[str, Any]
    spec: HookSpec
    expiration_time: float
    notifications_enabled: bool
    next_payload_number: int = 1
    payloads: deque[StoredPayload] = field(default_factory=deque)
    last_notification_result: dict[str, Any] | None = None
    last_successful_notification_time: str | None = None
    ping: PingState = field(default_factory=PingState)
    error_code: str | None = None  # e.g. "INVALID_HOOK": Airtable's hooks never recover from it (re-create them)

    def is_active(self, now: float) -> bool:
        """Not expired; an expired hook's payloads stay readable for a while."""
        return now < self.expiration_time

    def is_enabled(self, now: float) -> bool:
        """Active and not in an error state: only such a hook records payloads or can be refreshed."""
        return self.is_active(now) and self.error_code is None

    def add_payload(self, body: dict[str, Any], now: float) -> None:
        self.payloads.append(StoredPayload(self.next_payload_number, now, body))
        self.next_payload_number += 1

    def drop_old_payloads(self, now: float) -> None:
        while self.payloads and self.payloads[0].created_at <= now - PAYLOAD_RETENTION_SECONDS:
            self.payloads.popleft()

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "areNotificationsEnabled": self.notifications_enabled,
            "cursorForNextPayload": self.next_payload_number,
            "expirationTime": iso_millis(self.expiration_time),
            "isHookEnabled": self.is_enabled(now),
            "lastNotificationResult": self.last_notification_result,
            "lastSuccessfulNotificationTime": self.last_successful_notification_time,
            "notificationUrl": self.notification_url,
            "specification": self.specification,
        }

    def page(self, cursor: int, limit: int) -> dict[str, Any]:
        """List payloads from ``cursor`` (API.md §6.5): the response cursor follows the last one returned."""
        selected = [payload for payload in self.payloads if payload.number >= cursor][:limit]
        next_cursor = selected[-1].number + 1 if selected else cursor
        return {
            "cursor": next_cursor,
            "mightHaveMore": bool(self.payloads) and self.payloads[-1].number >= next_cursor,
            "payloads": [payload.body for payload in selected],
        }
