"""Notification pings: coalesced, signed, sent from one background thread, retried with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.webhooks.hooks import PingState

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.hooks import Hook
    from airtable_sandbox.webhooks.state import WebhooksState

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


def request_ping(state: WebhooksState, hook: Hook, now: float) -> None:
    """Caller holds the lock. Coalesces: a hook has at most one ping pending and one in flight."""
    if not (hook.notifications_enabled and hook.notification_url):
        return
    ping = hook.ping
    if ping.in_flight:
        ping.requested_during_flight = True
    elif ping.due_at is None:
        if state.random.random() < state.drop_ratio:
            return  # simulated lost ping: the payload exists, the receiver must catch up by listing
        hook.ping = PingState(due_at=now + state.notification_delay_seconds, timestamp=iso_millis(now))
        state.cond.notify_all()


class PingDelivery:
    """The one background thread that sends due pings, with its HTTP session and its retry settings.

    Pings go out from here, never from the store's listener call: a slow receiver must not slow writes.
    """

    def __init__(
        self, state: WebhooksState, *, retry_base_seconds: float, max_retries: int, timeout_seconds: float
    ) -> None:
        self._state = state
        self._retry_base = retry_base_seconds
        self._max_retries = max_retries
        self._timeout = timeout_seconds
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._deliver_forever, name="sandbox-webhook-pings", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._state.cond:
            self._state.stopped = True
            self._state.cond.notify_all()
        # A ping in flight may hold the thread for up to the delivery timeout; it is a daemon, so don't wait that long.
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._session.close()

    def _deliver_forever(self) -> None:
        state = self._state
        while True:
            with state.cond:
                if state.stopped:
                    return
                now = state.clock.time()
                job = _take_due_job(state, now)
                if job is None:
                    state.cond.wait(_idle_wait(state, now))
                    continue
            result = self._deliver(job)
            with state.cond:
                self._record_result(job, result)

    def _deliver(self, job: PingJob) -> DeliveryResult:
        started = time.monotonic()
        headers = {"Content-Type": "application/json", "X-Airtable-Content-MAC": job.signature}
        try:
            response = self._session.post(
                job.url, data=job.body, headers=headers, timeout=self._timeout, allow_redirects=False
            )
            status: int | None = response.status_code
            response.close()
            error = None
        except requests.Timeout:
            status, error = None, f"The HTTP request timed out after {self._timeout:g} seconds"
        except requests.RequestException as exc:
            status, error = None, f"The HTTP request failed: {type(exc).__name__}"
        duration_ms = (time.monotonic() - started) * 1000
        if error is None and duration_ms > self._timeout * 1000:
            error = f"The HTTP request timed out after {self._timeout:g} seconds"
        elif error is None and status not in (200, 204):
            error = f"The HTTP request returned a {status} status code instead of 200 or 204"
        return DeliveryResult(success=error is None, duration_ms=round(duration_ms, 3), error=error)

    def _record_result(self, job: PingJob, result: DeliveryResult) -> None:
        """Caller holds the lock."""
        state = self._state
        hook, ping = job.hook, job.hook.ping
        completed = iso_millis(state.clock.time())
        still_wanted = ping.in_flight and hook.notifications_enabled and state.is_registered(hook)
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
                request_ping(state, hook, state.clock.time())
            return
        will_retry = still_wanted and job.retry_number < self._max_retries
        hook.last_notification_result = {
            "success": False,
            "error": {"message": result.error},
            "completionTimestamp": completed,
            "durationMs": result.duration_ms,
            "retryNumber": job.retry_number,
            "willBeRetried": will_retry,
        }
        if will_retry:
            delay = self._retry_base * 2**job.retry_number
            hook.ping = PingState(
                due_at=state.clock.time() + delay, retry_number=job.retry_number + 1, timestamp=ping.timestamp
            )
            return
        hook.ping = PingState()
        if still_wanted:
            log.info("webhook %s: notification retries exhausted, disabling notifications", hook.id)
            hook.notifications_enabled = False


def _idle_wait(state: WebhooksState, now: float) -> float:
    """Sleep until the next retry is due, but re-read the clock often: tests move it forward."""
    due = [
        hook.ping.due_at
        for base_hooks in state.hooks.values()
        for hook in base_hooks.values()
        if hook.ping.due_at is not None and not hook.ping.in_flight
    ]
    return max(0.0, min([DISPATCH_POLL_SECONDS, *(when - now for when in due)]))


def _take_due_job(state: WebhooksState, now: float) -> PingJob | None:
    """Caller holds the lock."""
    for base_hooks in state.hooks.values():
        for hook in base_hooks.values():
            ping = hook.ping
            if ping.due_at is not None and ping.due_at <= now and not ping.in_flight and hook.notification_url:
                ping.in_flight = True
                body = notification_body(hook.base_id, hook.id, ping.timestamp)
                return PingJob(hook, hook.notification_url, body, content_mac(hook.secret, body), ping.retry_number)
    return None
