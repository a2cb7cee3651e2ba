"""The receiver's ASGI app (Starlette): ``POST /airtable/webhook``, ``GET /healthz``, ``GET /metrics`` (given a spec).

A notification is only a ping ("payloads are waiting"), so the receiver verifies it, stores it in the inbox and
answers 200 at once; the applier reads the payloads from the stored cursor. Refusals store nothing and log one
line with the status, the reason and the ids the body claimed, never the secret, the MAC or the body. Database
work runs in worker threads so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

import sqlalchemy as sa
from psycopg import sql
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airtable_pg.names import STATE_SCHEMA
from airtable_pg.observability.http import metrics_route
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.errors import SchemaNotReady, describe_database_error
from airtable_pg.postgres.sync_state import state_table
from airtable_pg.postgres.transaction import transaction
from airtable_pg.postgres.webhook_state import store_notification, webhook_by_id
from airtable_pg.receiver.notification import MAC_HEADER, Notification, Rejection, mac_matches, parse_notification
from airtable_pg.spec import SyncSpec

WEBHOOK_PATH = "/airtable/webhook"
HEALTH_PATH = "/healthz"
DEFAULT_MAX_BODY_BYTES = 64 * 1024  # Airtable's pings are ~120 bytes; anything near this is not Airtable
HEALTH_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)

_PRINTABLE_ID = re.compile(r"[A-Za-z0-9]{1,40}")

NotificationCallback = Callable[[str], None]


def build_app(
    database_url: str,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_notification: NotificationCallback | None = None,
    spec: SyncSpec | None = None,
) -> Starlette:
    """The receiver for the hooks stored in ``database_url``; ``on_notification(base_id)`` runs after each stored
    notification, once the 200 has been sent (it should only wake something up). With ``spec``, ``/metrics``
    serves that spec's tables' metrics from the same database."""
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
    db = connection_pool(database_url)

    async def receive(request: Request) -> Response:
        notification: Notification | None = None
        try:
            raw = await _read_body(request, max_body_bytes)
            notification = parse_notification(raw)
            mac = request.headers.get(MAC_HEADER)
            if mac is None:
                raise Rejection(401, f"no {MAC_HEADER} header")
            stored = await run_in_threadpool(_verify_and_store, db, notification, raw, mac)
        except Rejection as rejection:
            _log_rejection(request, rejection, notification)
            return JSONResponse({"error": rejection.reason}, status_code=rejection.status)
        log.info("stored notification %d (webhook %s, base %s)", stored, notification.webhook_id, notification.base_id)
        wake = BackgroundTask(_wake, on_notification, notification.base_id) if on_notification else None
        return Response(status_code=200, background=wake)  # Airtable wants 200 or 204 with an empty body

    async def health(request: Request) -> Response:
        try:
            await asyncio.wait_for(run_in_threadpool(_check_database, db), HEALTH_TIMEOUT_SECONDS)
        except Exception as error:  # noqa: BLE001 - whatever kept the database from answering, we are not healthy
            reason = describe_database_error(error) or type(error).__name__
            log.warning("health check failed: %s", reason)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    routes = [Route(WEBHOOK_PATH, receive, methods=["POST"]), Route(HEALTH_PATH, health)]
    if spec is not None:
        routes.append(metrics_route(db, spec))
    return Starlette(routes=routes)


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 before more than ``limit`` bytes are read (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejection(413, f"body over {limit} bytes")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:  # chunked, or a Content-Length that lied
            raise Rejection(413, f"body over {limit} bytes")
    return bytes(received)


def _verify_and_store(db: sa.Engine, notification: Notification, raw: bytes, mac: str) -> int:
    """One transaction: a rejection raised inside it rolls back, so a refused notification leaves no row."""
    try:
        with transaction(db) as cur:
            hook = webhook_by_id(cur, notification.webhook_id)
            if hook is None or hook.base_id != notification.base_id:
                raise Rejection(404, "unknown webhook")
            if not mac_matches(hook.mac_secret, raw, mac):
                raise Rejection(401, f"bad {MAC_HEADER}")
            return store_notification(cur, hook, notification.body)
    except Rejection:
        raise
    except Exception as error:
        database = describe_database_error(error)
        if database is None:
            raise
        # Airtable retries a failed ping with backoff, so the notification is delayed, not lost.
        raise Rejection(503, "database unavailable", detail=database) from error


def _check_database(db: sa.Engine) -> None:
    """The database answers and has the webhook table (migrations ran)."""
    with transaction(db) as cur:
        cur.execute(sql.SQL("select 1 from {} limit 1").format(state_table("webhook")))


def require_webhook_table(database_url: str) -> None:
    """Fail at startup, not on Airtable's first ping, when the state schema is not migrated."""
    with transaction(connection_pool(database_url)) as cur:
        cur.execute("select to_regclass(%s)", (f"{STATE_SCHEMA}.webhook",))
        if cur.fetchone()[0] is None:
            raise SchemaNotReady("the webhook table airtable_sync.webhook is missing: run `airtable-pg db upgrade`")


def _wake(on_notification: NotificationCallback, base_id: str) -> None:
    try:
        on_notification(base_id)
    except Exception:
        log.exception("on_notification(%s) failed; the notification is stored and will be applied later", base_id)


def _log_rejection(request: Request, rejection: Rejection, claimed: Notification | None) -> None:
    """One line; the ids come from an unverified body, so only plain Airtable-like ids are echoed."""
    webhook_id, base_id = (_printable(claimed.webhook_id), _printable(claimed.base_id)) if claimed else ("?", "?")
    client = request.client.host if request.client else "?"
    log.warning(
        "refused a webhook notification: %d %s (webhook %s, base %s, from %s)",
        rejection.status,
        f"{rejection.reason} ({rejection.detail})" if rejection.detail else rejection.reason,
        webhook_id,
        base_id,
        client,
    )


def _printable(identifier: str) -> str:
    return identifier if _PRINTABLE_ID.fullmatch(identifier) else "?"
