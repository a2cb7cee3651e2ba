"""Airtable's limits and the sandbox's injected faults (API.md §4), applied before a request is served.

* **Auth**: ``Authorization: Bearer <token>`` with the one accepted token; anything else is a 401
  ``AUTHENTICATION_REQUIRED`` (missing, malformed and wrong tokens look identical, as on Airtable).
* **Rate limits**: more than N requests (default 5) to one base in any sliding one-second window → 429
  ``RATE_LIMIT_REACHED`` (no ``Retry-After``) and the base is locked out for ``penalty_seconds``
  (default 30); requests during the lock-out get 429 too and are not counted as served. The same
  applies to all traffic of the token (default 50 req/s). ``None`` disables a limit. Time is the
  sandbox :class:`~airtable_sandbox.clock.Clock`, so a test can jump past a penalty.
* **Latency**: fixed milliseconds plus uniform jitter, slept by the request's own thread *without*
  holding any lock, so concurrent requests overlap like on the real API.
* **Faults**: a share of admitted requests answer 503 ``RETRIABLE_ERROR`` instead of being served; the
  decision is taken before the handler runs, so a faulted request never changes anything.

Counters (per base and in total) feed the admin API's ``/_sandbox/stats``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from airtable_sandbox.clock import Clock
from airtable_sandbox.http import ApiError

WINDOW_SECONDS = 1.0


def authentication_required() -> ApiError:
    return ApiError(401, "AUTHENTICATION_REQUIRED", "Authentication required")


def rate_limit_reached() -> ApiError:
    return ApiError(429, "RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later")


def retriable_error() -> ApiError:
    return ApiError(
        503,
        "RETRIABLE_ERROR",
        "Server encountered an error while processing your request, and it is safe to retry the request",
    )


@dataclass
class LimitsConfig:
    rate_limit_per_second: float | None = 5
    token_rate_limit_per_second: float | None = 50
    penalty_seconds: float = 30.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fault_5xx_ratio: float = 0.0

    def updated(self, changes: Mapping[str, Any]) -> LimitsConfig:
        """A copy with ``changes`` applied; unknown keys or bad values raise a 422."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ApiError(422, "INVALID_REQUEST_UNKNOWN", f"Unknown config keys: {', '.join(unknown)}")
        values = asdict(self)
        for key, value in changes.items():
            optional = key in ("rate_limit_per_second", "token_rate_limit_per_second")
            if value is None and optional:
                values[key] = None
            elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                values[key] = float(value)
            else:
                raise ApiError(422, "INVALID_REQUEST_UNKNOWN", f"{key} must be a non-negative number")
        if values["fault_5xx_ratio"] > 1:
            raise ApiError(422, "INVALID_REQUEST_UNKNOWN", "fault_5xx_ratio must be between 0 and 1")
        return LimitsConfig(**values)


class SlidingWindow:
    """Admitted requests of the last second, and the lock-out a burst earns."""

    def __init__(self) -> None:
        self.admitted: deque[float] = deque()
        self.locked_until = 0.0
        self.peak = 0

    def allows(self, now: float, limit: float | None) -> bool:
        while self.admitted and self.admitted[0] <= now - WINDOW_SECONDS:
            self.admitted.popleft()
        if now < self.locked_until:
            return False
        return limit is None or len(self.admitted) < limit

    def lock_out(self, now: float, penalty: float) -> None:
        self.locked_until = now + penalty

    def admit(self, now: float) -> None:
        self.admitted.append(now)
        self.peak = max(self.peak, len(self.admitted))


@dataclass
class Counters:
    requests: int = 0
    served: int = 0
    rate_limited: int = 0
    faults_5xx: int = 0
    window: SlidingWindow = field(default_factory=SlidingWindow)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "served": self.served,
            "rate_limited": self.rate_limited,
            "faults_5xx": self.faults_5xx,
            "peak_per_second": self.window.peak,
        }


class Limits:
    """Decides, per request, whether it is authenticated, within limits, delayed and/or faulted."""

    def __init__(
        self, token: str, clock: Clock, config: LimitsConfig | None = None, rng: random.Random | None = None
    ) -> None:
        self._token = token
        self._clock = clock
        self.config = config or LimitsConfig()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._bases: dict[str, Counters] = {}
        self._token_counters = Counters()
        self._unauthorized = 0

    def authenticate(self, headers: Mapping[str, str]) -> None:
        if headers.get("Authorization") != f"Bearer {self._token}":
            with self._lock:
                self._unauthorized += 1
            raise authentication_required()

    def delay(self) -> None:
        """Sleep the configured latency (+ jitter) on the caller's thread, holding no lock."""
        config = self.config
        jitter = self._rng.uniform(0, config.jitter_ms) if config.jitter_ms else 0.0
        seconds = (config.latency_ms + jitter) / 1000
        if seconds > 0:
            time.sleep(seconds)

    def admit(self, base_id: str | None) -> None:
        """Count the request; raise 429 (rate limit / lock-out) or 503 (injected fault) instead of serving it."""
        config = self.config
        now = self._clock.time()
        with self._lock:
            tracked = [(self._token_counters, config.token_rate_limit_per_second)]
            if base_id:
                tracked.append((self._bases.setdefault(base_id, Counters()), config.rate_limit_per_second))
            for counters, _ in tracked:
                counters.requests += 1
            refused = [counters for counters, limit in tracked if not counters.window.allows(now, limit)]
            if refused:
                for counters in refused:
                    if now >= counters.window.locked_until:  # a fresh burst earns the penalty
                        counters.window.lock_out(now, config.penalty_seconds)
                for counters, _ in tracked:
                    counters.rate_limited += 1
                raise rate_limit_reached()
            for counters, _ in tracked:
                counters.window.admit(now)
            if config.fault_5xx_ratio and self._rng.random() < config.fault_5xx_ratio:
                for counters, _ in tracked:
                    counters.faults_5xx += 1
                raise retriable_error()
            for counters, _ in tracked:
                counters.served += 1

    def configure(self, changes: Mapping[str, Any]) -> LimitsConfig:
        with self._lock:
            self.config = self.config.updated(changes)
            return self.config

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "bases": {base_id: counters.as_dict() for base_id, counters in self._bases.items()},
                "token": self._token_counters.as_dict(),
                "unauthorized": self._unauthorized,
                "config": asdict(self.config),
            }

    def reset_stats(self) -> None:
        """Zero the counters (lock-outs in force stay: resetting statistics must not lift a penalty)."""
        with self._lock:
            for counters in [*self._bases.values(), self._token_counters]:
                counters.requests = counters.served = counters.rate_limited = counters.faults_5xx = 0
                counters.window.peak = 0
            self._unauthorized = 0
