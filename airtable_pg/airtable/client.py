"""pyairtable, with the shared rate limiter and our retry policy under every HTTP call it makes.

pyairtable has no client-side throttling, and its own retry (0–1.6 s backoff on 429) is useless
against Airtable's 30-second lock-out, so it is switched off (``retry_strategy=None``) and an
``HTTPAdapter`` mounted on the ``Api``'s session does both jobs for every request, whatever
pyairtable method issued it:

* before sending: take a slot from the per-base (and per-token) :class:`~airtable_pg.airtable.rate_limit.RateLimiter`,
  and, as the very last step before the request leaves, check it is still on time (else take another: a
  request stalled by a busy machine must not leave in a burst with the ones booked after it);
* 429: block the base for every process for the penalty, then send again (bounded);
* 502/503, connection failures and timeouts of requests safe to resend: exponential backoff with
  jitter, then send again (bounded), then give up with the last error.

A ``requests.Session`` is not guaranteed thread-safe: make one ``Api`` per worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
import sqlalchemy as sa
from pyairtable import Api
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airtable_pg.airtable.rate_limit import Cancelled, RateLimiter, Slot
from airtable_pg.airtable.slot_grid import token_key
from airtable_pg.settings import DEFAULT_API_URL, Settings

log = logging.getLogger(__name__)
CONTENT_HOST = "content.airtable.com"  # where pyairtable sends attachment uploads

if TYPE_CHECKING:
    from airtable_pg.spec import SyncSpec

_DEFAULTS = Settings.model_fields  # one place for the defaults every process must share
ALWAYS_RETRIABLE = frozenset({502, 503})  # Airtable: "safe to retry"; the request was not processed
RETRIABLE_IF_RESENDABLE = frozenset({504})  # the request may have been processed: only resend reads
# Methods whose repetition cannot create a second record. Airtable's PATCH (update, upsert on key fields)
# converges to the same state when repeated; POST creates, except the read-only POST …/listRecords.
_RESENDABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class AirtableConfig:
    """How to reach Airtable (or the sandbox). ``api_key`` never appears in a repr, log line or error."""

    api_key: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    requests_per_second: float = _DEFAULTS["requests_per_second"].default
    penalty_seconds: float = _DEFAULTS["penalty_seconds"].default
    rate_margin_seconds: float = _DEFAULTS["rate_margin_ms"].default / 1000  # slots are 1/rps + this apart
    fast_lane_share: float = _DEFAULTS["fast_lane_share"].default  # requests/s held for fast-lane tables
    token_requests_per_second: float = _DEFAULTS["token_requests_per_second"].default  # 0: no per-token bucket
    base_rates: Mapping[str, float] = field(default_factory=dict)  # a base's lower rate (the spec's share)
    fast_lane_bases: frozenset[str] | None = None  # bases with a fast-lane table (None: unknown, reserve on all)
    timeout: tuple[float, float] = (10.0, 120.0)  # (connect, read) seconds
    max_attempts: int = 6  # per request, against 5xx and network failures
    backoff_seconds: float = 0.5  # first retry waits up to this; doubles each time
    backoff_max_seconds: float = 30.0
    max_throttled_retries: int = 20  # 429s in a row before giving up (each costs a full penalty)

    @classmethod
    def from_settings(cls, settings: Settings) -> AirtableConfig:
        """Raises ``ConfigError`` when no token is configured."""
        return cls(
            api_key=settings.require_api_key(),
            api_url=settings.airtable_api_url,
            requests_per_second=settings.requests_per_second,
            penalty_seconds=settings.penalty_seconds,
            rate_margin_seconds=settings.rate_margin_seconds,
            fast_lane_share=settings.fast_lane_share,
            token_requests_per_second=settings.token_requests_per_second,
        )

    def for_spec(self, spec: SyncSpec) -> AirtableConfig:
        """This configuration with the spec's per-base rates (the share each base leaves to other clients) and the
        bases whose fast-lane tables need reserved slots."""
        fast = spec.fast_lane_bases() | (self.fast_lane_bases or frozenset())
        return replace(self, base_rates={**self.base_rates, **spec.base_rates()}, fast_lane_bases=fast)

    def rate_limiter(self, db: sa.Engine) -> RateLimiter:
        """The per-base buckets and this token's bucket in ``db``, paced as this configuration says."""
        return RateLimiter(
            db,
            requests_per_second=self.requests_per_second,
            margin_seconds=self.rate_margin_seconds,
            penalty_seconds=self.penalty_seconds,
            fast_lane_share=self.fast_lane_share,
            token_key=token_key(self.api_key),
            token_requests_per_second=self.token_requests_per_second,
            base_rates=self.base_rates,
            fast_lane_bases=self.fast_lane_bases,
        )


class RequestStats:
    """Counters of one sync's HTTP traffic; shared by its worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.throttled_429 = 0
        self.retried_5xx = 0  # retries after a 5xx or a network failure
        self.first_server_time: datetime | None = None  # the ``Date`` of the first successful response

    def count_request(self, count: int = 1) -> None:
        with self._lock:
            self.requests += count

    def count_throttled(self) -> None:
        with self._lock:
            self.throttled_429 += 1

    def count_retry(self) -> None:
        with self._lock:
            self.retried_5xx += 1

    def note_server_time(self, moment: datetime) -> None:
        with self._lock:
            if self.first_server_time is None:
                self.first_server_time = moment


def base_id_of_url(url: str) -> str | None:
    """The base a request addresses (its rate-limit bucket); ``None`` for base-less calls such as whoami."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if "v0" not in segments:
        return None
    rest = segments[segments.index("v0") + 1 :]
    if rest[:2] == ["meta", "bases"] and len(rest) > 2:  # v0/meta/bases/{baseId}/tables
        return rest[2]
    if rest[:1] == ["bases"] and len(rest) > 1:  # v0/bases/{baseId}/webhooks…
        return rest[1]
    if rest and rest[0].startswith("app"):  # v0/{baseId}/{table}…
        return rest[0]
    return None


def server_time(response: requests.Response) -> datetime | None:
    """Airtable's clock at the response, from its ``Date`` header (second precision, rounded down)."""
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_resendable(request: requests.PreparedRequest) -> bool:
    """Whether sending ``request`` twice is harmless (a lost response must not duplicate a record)."""
    method = (request.method or "GET").upper()
    return method in _RESENDABLE_METHODS or urlsplit(request.url or "").path.endswith("/listRecords")


class SlotMissed(Exception):
    """The request's slot passed before its first byte was written: nothing was sent; it books another."""


_WRITING = threading.local()  # the slot of the request this thread is writing, if any


class _OnTimeHTTPConnection(HTTPConnection):
    """Looks at the slot once more as the request's bytes are about to be written: after the pool handed out a
    connection (and after connecting, when it had to), so a stall anywhere before that point is caught too."""

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        slot = getattr(_WRITING, "slot", None)
        if slot is not None and slot.missed():
            raise SlotMissed("the rate-limit slot passed before the request could leave")
        super().request(*args, **kwargs)


class _OnTimeHTTPSConnection(HTTPSConnection, _OnTimeHTTPConnection):  # type: ignore[misc]
    pass


class _OnTimeHTTPPool(HTTPConnectionPool):
    ConnectionCls = _OnTimeHTTPConnection


class _OnTimeHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _OnTimeHTTPSConnection


class RateLimitedAdapter(HTTPAdapter):
    """Every request through this adapter takes a rate-limit slot first and is retried per our policy."""

    def __init__(
        self,
        limiter: RateLimiter | None,
        stats: RequestStats,
        config: AirtableConfig,
        cancel: threading.Event | None = None,
        lane: str = "standard",
    ) -> None:
        super().__init__()
        self.limiter = limiter
        self.lane = lane
        self.stats = stats
        self.config = config
        self.cancel = cancel or threading.Event()
        self._random = random.Random()

    def _content_url(self, url: str) -> str:
        """pyairtable sends attachment uploads to ``content.airtable.com`` whatever its endpoint URL; an endpoint that
        is not Airtable's (the sandbox, a proxy) is asked for them too, as it is for everything else."""
        parts = urlsplit(url)
        endpoint = urlsplit(self.config.api_url)
        if parts.hostname != CONTENT_HOST or endpoint.hostname == urlsplit(DEFAULT_API_URL).hostname:
            return url
        return urlunsplit((endpoint.scheme, endpoint.netloc, parts.path, parts.query, parts.fragment))

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _OnTimeHTTPPool, "https": _OnTimeHTTPSPool}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = self._content_url(request.url or "")
        base_id = base_id_of_url(request.url or "")
        resendable = is_resendable(request)
        failures = 0
        throttles = 0
        rebooking = False
        while True:
            slot = None
            if base_id is not None and self.limiter is not None:
                slot = self.limiter.take(base_id, self.cancel, self.lane, rebooking=rebooking)
                # The last look before the request leaves: a sender stalled since its slot came (a starved
                # process) books again rather than crowd the requests booked after it.
                rebooking = slot.missed()
                if rebooking:
                    self.limiter.note_missed()
                    continue
            elif self.cancel.is_set():
                raise Cancelled("cancelled before sending")
            self.stats.count_request()
            try:
                response = self._write(slot, request, *args, **kwargs)
            except SlotMissed:  # nothing was written: the same request books again
                self.stats.count_request(-1)
                self.limiter.note_missed()  # type: ignore[union-attr]  # a slot exists only with a limiter
                rebooking = True
                continue
            except (requests.ConnectionError, requests.Timeout) as error:
                failures += 1
                never_sent = isinstance(error, requests.ConnectTimeout)
                if failures >= self.config.max_attempts or not (resendable or never_sent):
                    raise
                self._back_off(failures, None)
                continue
            status = response.status_code
            if status == 429 and throttles < self.config.max_throttled_retries:
                throttles += 1
                self.stats.count_throttled()
                _release(response)
                self._wait_out_penalty(base_id)
                continue
            if status >= 500 and base_id is not None and self.limiter is not None:
                self._count_server_error(base_id)
            retriable = status in ALWAYS_RETRIABLE or (status in RETRIABLE_IF_RESENDABLE and resendable)
            if retriable and failures + 1 < self.config.max_attempts:
                failures += 1
                retry_after = _retry_after_seconds(response)
                _release(response)
                self._back_off(failures, retry_after)
                continue
            if 200 <= status < 300:
                moment = server_time(response)
                if moment is not None:
                    self.stats.note_server_time(moment)
            return response

    def _write(
        self, slot: Slot | None, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """``HTTPAdapter.send`` with ``slot`` checked as the bytes are about to leave (``_OnTimeHTTPConnection``)."""
        _WRITING.slot = slot
        try:
            return super().send(request, *args, **kwargs)
        finally:
            _WRITING.slot = None

    def _count_server_error(self, base_id: str) -> None:
        # A metric must never fail the request it counts: a database hiccup here loses one count, nothing more.
        try:
            self.limiter.server_error(base_id, self.lane)  # type: ignore[union-attr]
        except Exception:
            log.warning("could not count a 5xx of base %s", base_id, exc_info=True)

    def _wait_out_penalty(self, base_id: str | None) -> None:
        if base_id is not None and self.limiter is not None:
            self.limiter.throttled(base_id, self.lane)  # the next acquire() waits for the block, in every process
        elif self.cancel.wait(self.config.penalty_seconds):
            raise Cancelled("cancelled while waiting out a 429")

    def _back_off(self, failures: int, retry_after: float | None) -> None:
        self.stats.count_retry()
        ceiling = min(self.config.backoff_max_seconds, self.config.backoff_seconds * 2 ** (failures - 1))
        delay = self._random.uniform(ceiling / 2, ceiling)  # jitter: retries of many workers must not align
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff_max_seconds))
        if self.cancel.wait(delay):
            raise Cancelled("cancelled while backing off")


def _release(response: requests.Response) -> None:
    """Read the (small) error body so the keep-alive connection goes back to the pool instead of being reset."""
    with contextlib.suppress(requests.RequestException):
        _ = response.content
    response.close()


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def make_api(
    config: AirtableConfig,
    limiter: RateLimiter | None,
    stats: RequestStats,
    *,
    cancel: threading.Event | None = None,
    lane: str = "standard",
) -> Api:
    """A pyairtable ``Api`` whose every HTTP call goes through ``limiter`` and is counted in ``stats``.

    Without a limiter (no database to hold the shared bucket yet) requests keep the retry and 429 policy
    but are not paced: only for a command's single request, never for a sync.

    ``cancel``, once set, makes waiting and retrying requests raise :class:`Cancelled` instead. ``lane`` is the
    rate-limit lane of the tables it serves (``fast``: the users; see ``airtable.rate_limit``), or ``outbound``
    for the pusher's (standard slots, counted apart).
    """
    api = Api(config.api_key, timeout=config.timeout, retry_strategy=None, endpoint_url=config.api_url)
    adapter = RateLimitedAdapter(limiter, stats, config, cancel, lane)
    api.session.mount("https://", adapter)
    api.session.mount("http://", adapter)
    return api
