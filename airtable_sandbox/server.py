"""The sandbox's HTTP server: one threaded ``http.server`` that answers like ``api.airtable.com``.

Every request is authenticated; Airtable routes (records, metadata, webhooks) are then counted against the
rate limits and may get an injected 5xx fault, then wait the injected latency (``limits.py``), while
the sandbox's own ``/_sandbox/…`` routes are served at once. Routing uses the raw path split into
segments before percent-decoding (see ``http.py``), so a table named ``a/b`` stays one segment.
HTTP/1.1 with keep-alive and ``Content-Length``, like the real API; pyairtable's ``requests`` session
reuses connections.

    with Sandbox("patTest.token", rate_limit_per_second=None) as sandbox:
        sandbox.load_demo(records=1_000)
        api = pyairtable.Api("patTest.token", endpoint_url=sandbox.url)
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airtable_sandbox import demo
from airtable_sandbox.admin_api import AdminApi
from airtable_sandbox.attachments import DEFAULT_TTL_SECONDS, ROUTE, AttachmentContent
from airtable_sandbox.clock import Clock
from airtable_sandbox.http import ApiError, Request, Response, Route
from airtable_sandbox.limits import Limits, LimitsConfig
from airtable_sandbox.meta_api import MetaApi
from airtable_sandbox.records_api import RecordsApi
from airtable_sandbox.store import Store
from airtable_sandbox.upload_api import UploadApi
from airtable_sandbox.webhooks import WebhookService

log = logging.getLogger(__name__)

IDLE_CONNECTION_SECONDS = 300  # an idle keep-alive connection is closed after this
NOT_FOUND = {"error": "NOT_FOUND"}
SERVER_ERROR = {"error": {"type": "SERVER_ERROR", "message": "Server encountered an unexpected error"}}


def base_id_of(segments: list[str]) -> str | None:
    """The base a request addresses, for its per-base rate limit (``None`` for base-less routes)."""
    if len(segments) < 2 or segments[0] != "v0":
        return None
    if segments[1] == "meta":  # v0/meta/bases/{baseId}/tables
        return segments[3] if len(segments) > 3 and segments[2] == "bases" else None
    if segments[1] == "bases":  # v0/bases/{baseId}/webhooks…
        return segments[2] if len(segments) > 2 else None
    return segments[1]  # v0/{baseId}/{table}…


class SandboxApp:
    """Request → Response: auth, limits and faults, routing, and errors in Airtable's shapes."""

    def __init__(
        self, limits: Limits, routes: list[Route], admin_routes: list[Route], content: AttachmentContent | None = None
    ) -> None:
        self._limits = limits
        self._routes = routes
        self._admin_routes = admin_routes
        self._content = content

    def handle(self, request: Request) -> Response:
        try:
            segments = request.segments
            if segments[:1] == [ROUTE] and self._content is not None:  # public signed URLs, outside the limits
                return self._content.serve(segments)
            self._limits.authenticate(request.headers)
            if segments[:1] == ["_sandbox"]:
                return self._dispatch(self._admin_routes, request, segments)
            # Airtable counts a request against the limit when it arrives; the latency is the time it then
            # takes to answer (429s and 5xx included). Counting after the delay would stamp arrivals with
            # the jitter of a thread waking from a 300 ms sleep, and turn evenly paced clients into bursts.
            try:
                self._limits.admit(base_id_of(segments))
            finally:
                self._limits.delay()
            return self._dispatch(self._routes, request, segments)
        except ApiError as error:
            return Response(error.status, error.body())
        except Exception:  # a bug must answer 500 and leave the server running, as a real API would
            log.exception("sandbox: unexpected error on %s %s", request.method, request.raw_path)
            return Response(500, SERVER_ERROR)

    @staticmethod
    def _dispatch(routes: list[Route], request: Request, segments: list[str]) -> Response:
        for route in routes:
            params = route.match(request.method, segments)
            if params is not None:
                return route.handler(request, params)
        return Response(404, NOT_FOUND)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Shut idle keep-alive connections so their handler threads end with the server."""
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # already closed by the client
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    # Headers and body go out in two writes; with Nagle on, keep-alive clients wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client went away mid-response
            super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # the body's end is unknown: this connection cannot be reused
            self._send(Response(400, {"error": {"type": "INVALID_REQUEST_BODY", "message": "Bad Content-Length"}}))
            return
        body = self.rfile.read(length) if length > 0 else b""
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        request = Request(self.command, self.path, query, self.headers, body)
        response = self.server.app.handle(request)
        self._send(response)

    def _send(self, response: Response) -> None:
        raw = isinstance(response.body, bytes)  # attachment content; everything else is JSON
        payload = response.body if raw else b"" if response.body is None else _encode(response.body)
        self.send_response(response.status)
        if not raw:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s - %s", self.address_string(), format % args)


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Sandbox:
    """An Airtable Web API emulator on ``127.0.0.1``: store, limits, webhooks and the HTTP server."""

    def __init__(
        self,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: float | None = 5,
        token_rate_limit_per_second: float | None = 50,
        penalty_seconds: float = 30.0,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        fault_5xx_ratio: float = 0.0,
        fault_seed: int | None = None,
        drop_notification_ratio: float = 0.0,
        notification_retry_base_seconds: float = 10.0,
        max_notification_retries: int = 13,
        notification_timeout_seconds: float = 25.0,
        notification_delay_ms: float = 0.0,
        report_lookup_changes_in_other_records: bool = False,
        attachment_url_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self.token = token
        self.clock = clock or Clock()
        self.store = Store(self.clock, report_lookup_changes_in_other_records=report_lookup_changes_in_other_records)
        self.attachments = self.store.attachments = AttachmentContent(self.clock, attachment_url_ttl_seconds)
        config = LimitsConfig(
            rate_limit_per_second=rate_limit_per_second,
            token_rate_limit_per_second=token_rate_limit_per_second,
            penalty_seconds=penalty_seconds,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            fault_5xx_ratio=fault_5xx_ratio,
        )
        # A seed makes the injected faults a fixed sequence: the n-th admitted request fails or not, every run.
        rng = random.Random(fault_seed) if fault_seed is not None else None
        self.limits = Limits(token, self.clock, config, rng=rng)
        self.webhooks = WebhookService(
            self.store,
            self.clock,
            notification_retry_base_seconds=notification_retry_base_seconds,
            drop_notification_ratio=drop_notification_ratio,
            max_notification_retries=max_notification_retries,
            notification_timeout_seconds=notification_timeout_seconds,
            notification_delay_ms=notification_delay_ms,
        )
        self.store.add_listener(self.webhooks.on_transaction)
        routes = [
            *MetaApi(self.store).routes(),
            *self.webhooks.routes(),
            *RecordsApi(self.store).routes(),
            *UploadApi(self.store).routes(),
        ]
        admin_routes = AdminApi(self.store, self.limits, self.clock, self.webhooks).routes()
        self._server = _Server((host, port), SandboxApp(self.limits, routes, admin_routes, self.attachments))
        self.attachments.base_url = self.url
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def add_base(self, schema_tables: list[dict[str, Any]], base_id: str, name: str) -> str:
        """Add a base from tables in metadata-API format; returns its id."""
        self.store.add_base(base_id, name, schema_tables)
        return base_id

    def load_demo(self, records: int, seed: int = 42, bases: int = 1) -> str:
        """The coaching demo base with ``records`` records (plus the small hostile-names base); returns its id.

        ``bases`` > 1: as many copies of it (``demo.demo_base_id(n)``), for many bases sharing one token.
        """
        for number in range(1, bases + 1):
            base_id = demo.demo_base_id(number)
            name = demo.DEMO_BASE_NAME if number == 1 else f"{demo.DEMO_BASE_NAME} {number}"
            self.store.add_base(base_id, name, demo.demo_schema())
            self.store.load_records(base_id, None, demo.demo_records(records, seed))
        self.store.add_base(demo.HOSTILE_BASE_ID, demo.HOSTILE_BASE_NAME, demo.hostile_schema())
        self.store.load_records(demo.HOSTILE_BASE_ID, None, demo.hostile_records())
        return demo.DEMO_BASE_ID

    def stats(self) -> dict[str, Any]:
        """Request counters and the current config (``/_sandbox/stats`` without the record counts)."""
        stats = self.limits.stats()
        stats["config"]["drop_notification_ratio"] = self.webhooks.drop_notification_ratio
        stats["config"]["notification_delay_ms"] = self.webhooks.notification_delay_ms
        stats["config"]["report_lookup_changes_in_other_records"] = self.store.report_lookup_changes_in_other_records
        return stats

    def start(self) -> Sandbox:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.close_connections()
        self._server.server_close()
        self.webhooks.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
