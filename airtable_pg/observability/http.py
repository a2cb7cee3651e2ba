"""``GET /metrics``: the state collector in Prometheus's text format, as a Starlette route.

The read runs in a worker thread (it waits on Postgres), so the receiver's event loop keeps answering Airtable's
pings while a scrape is in progress.
"""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airtable_pg.observability.metrics import state_registry
from airtable_pg.spec import SyncSpec

METRICS_PATH = "/metrics"


def metrics_route(db: sa.Engine, spec: SyncSpec) -> Route:
    registry = state_registry(db, spec)

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, metrics, methods=["GET"])
