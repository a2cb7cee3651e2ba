"""Notification pings: coalesced, signed, sent from one background thread, retried with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.webhooks.hooks import PingState

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.hooks import Hook
    from airtable_sandbox.webhooks.service import WebhookService

log = logging.getLogger(__name__)

DISPATCH_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class PingJob:
    hook: Hook
    url: str
    body: bytes
    signature: str
    retry_number: int


@dataclass(frozen=True)
class DeliveryResult:
    success: bool
    duration_ms: float
    error: str | None = None


def notification_body(base_id: str, webhook_id: str, timestamp: str) -> bytes:
    """The ping exactly as Airtable sends it: compact JSON, no change data."""
    body = {"base": {"id": base_id}, "webhook": {"id": webhook_id}, "timestamp": timestamp}
    return json.dumps(body, separators=(",", ":")).encode("ascii")


def content_mac(secret: bytes, body: bytes) -> str:
    """``X-Airtable-Content-MAC``: HMAC-SHA256 of the raw body, keyed by the decoded secret."""
    return "hmac-sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def request_ping(service: WebhookService, hook: Hook, now: float) -> None:
    """Caller holds the lock. Coalesces: a hook has at most one ping pending and one in flight."""
    if not (hook.notifications_enabled and hook.notification_url):
        return
    ping = hook.ping
    if ping.in_flight:
        ping.requested_during_flight = True
    elif ping.due_at is None:
        if service._random.random() < service._drop_ratio:
            return  # simulated lost ping: the payload exists, the receiver must catch up by listing
        hook.ping = PingState(due_at=now + service._notification_delay_seconds, timestamp=iso_millis(now))
        service._cond.notify_all()


def deliver_forever(service) -> None:
    while True:
        with service._cond:
            if service._stopped:
                return
            now = service._clock.time()
            job = _take_due_job(service, now)
            if job is None:
                service._cond.wait(_idle_wait(service, now))
                continue
        result = _deliver(service, job)
        with service._cond:
            _record_result(service, job, result)


def _idle_wait(service: WebhookService, now: float) -> float:
    """Sleep until the next retry is due, but re-read the clock often: tests move it forward."""
    due = [
        hook.ping.due_at
        for base_hooks in service._hooks.values()
        for hook in base_hooks.values()
        if hook.ping.due_at is not None and not hook.ping.in_flight
    ]
    return max(0.0, min([DISPATCH_POLL_SECONDS, *(when - now for when in due)]))


def _take_due_job(service: WebhookService, now: float) -> PingJob | None:
    for base_hooks in service._hooks.values():
        for hook in base_hooks.values():
            ping = hook.ping
            if ping.due_at is not None and ping.due_at <= now and not ping.in_flight and hook.notification_url:
                ping.in_flight = True
                body = notification_body(hook.base_id, hook.id, ping.timestamp)
                return PingJob(hook, hook.notification_url, body, content_mac(hook.secret, body), ping.retry_number)
    return None


def _deliver(service: WebhookService, job: PingJob) -> DeliveryResult:
    started = time.monotonic()
    headers = {"Content-Type": "application/json", "X-Airtable-Content-MAC": job.signature}
    try:
        response = service._session.post(
            job.url, data=job.body, headers=headers, timeout=service._timeout, allow_redirects=False
        )
        status: int | None = response.status_code
        response.close()
        error = None
    except requests.Timeout:
        status, error = None, f"The HTTP request timed out after {service._timeout:g} seconds"
    except requests.RequestException as exc:
        status, error = None, f"The HTTP request failed: {type(exc).__name__}"
    duration_ms = (time.monotonic() - started) * 1000
    if error is None and duration_ms > service._timeout * 1000:
        error = f"The HTTP request timed out after {service._timeout:g} seconds"
    elif error is None and status not in (200, 204):
        error = f"The HTTP request returned a {status} status code instead of 200 or 204"
    return DeliveryResult(success=error is None, duration_ms=round(duration_ms, 3), error=error)


def _record_result(service: WebhookService, job: PingJob, result: DeliveryResult) -> None:
    """Caller holds the lock."""
    hook, ping = job.hook, job.hook.ping
    completed = iso_millis(service._clock.time())
    still_wanted = ping.in_flight and hook.notifications_enabled and _is_registered(service, hook)
    ping.in_flight = False
    if result.success:
        hook.last_notification_result = {
            "success": True,
            "completionTimestamp": completed,
            "durationMs": result.duration_ms,
            "retryNumber": job.retry_number,
        }
        hook.last_successful_notification_time = completed
        hook.ping = PingState()
        if still_wanted and ping.requested_during_flight:
            request_ping(service, hook, service._clock.time())
        return
    will_retry = still_wanted and job.retry_number < service._max_retries
    hook.last_notification_result = {
        "success": False,
        "error": {"message": result.error},
        "completionTimestamp": completed,
        "durationMs": result.duration_ms,
        "retryNumber": job.retry_number,
        "willBeRetried": will_retry,
    }
    if will_retry:
        delay = service._retry_base * 2**job.retry_number
        hook.ping = PingState(
            due_at=service._clock.time() + delay, retry_number=job.retry_number + 1, timestamp=ping.timestamp
        )
        return
    hook.ping = PingState()
    if still_wanted:
        log.info("webhook %s: notification retries exhausted, disabling notifications", hook.id)
        hook.notifications_enabled = False


def _is_registered(service: WebhookService, hook: Hook) -> bool:
    return service._hooks.get(hook.base_id, {}).get(hook.id) is hook


def _checked_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ValueError(f"drop_notification_ratio must be a number between 0 and 1, got {ratio!r}")
    return float(ratio)
