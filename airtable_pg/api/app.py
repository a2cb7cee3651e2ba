"""The API's ASGI app (Starlette): ``/v0/{baseId}/{tableIdOrName}[/{recordId}|/listRecords]`` and ``/healthz``.

Routing reads the *raw* path split on ``/`` before percent-decoding: clients quote table names with ``safe=""``,
so a table called ``a/b`` arrives as ``a%2Fb`` and must stay one segment. Every request is authenticated first
(Airtable answers 401 before it says whether a base exists); every refusal is an Airtable error body and touches
nothing. Database work runs in worker threads so the event loop keeps answering. Nothing logged holds a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, unquote

from pyairtable import Api
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airtable_pg import fast_json
from airtable_pg.api.attachments import archive_route
from airtable_pg.api.auth import Authenticator, require_base
from airtable_pg.api.errors import NOT_SERVED, ApiError, model_not_found, not_found, unprocessable
from airtable_pg.api.listing import Listing
from airtable_pg.api.params import ListOptions
from airtable_pg.api.pg_writes import PostgresWrites
from airtable_pg.api.records import shape
from airtable_pg.api.routing import Router
from airtable_pg.api.tables import Catalog, ServedTable
from airtable_pg.api.writes import Forwarder
from airtable_pg.archive.config import ArchiveConfig
from airtable_pg.archive.store import ArchiveStore
from airtable_pg.postgres.api_reads import MirrorReader, records_by_id
from airtable_pg.postgres.api_tokens import token_by_secret
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.errors import describe_database_error
from airtable_pg.routing.flags import POSTGRES_PRIMARY, SHADOW, BackendFlags
from airtable_pg.routing.shadow import ShadowPolicy, ShadowReads
from airtable_pg.settings import Settings
from airtable_pg.spec import SyncSpec
from airtable_pg.sync.outbound import OutboundConfig, OutboundPusher
from airtable_pg.sync.uploads import UploadSources

HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1024 * 1024  # a listRecords body with a 100,000-character formula is ~100 kB
HEALTH_TIMEOUT_SECONDS = 5.0
_GET_ONE_PARAMS = frozenset({"cellFormat", "timeZone", "userLocale", "returnFieldsByFieldId"})

log = logging.getLogger(__name__)


class AirtableJSON(JSONResponse):
    """UTF-8 JSON as Airtable sends it (written by orjson, see ``fast_json``); a cell holding a lone surrogate (which
    the sync kept, escaped) has no UTF-8 form, so such an answer goes out with ``\\u`` escapes instead: the same
    value for every JSON parser."""

    def render(self, content: Any) -> bytes:
        fast = fast_json.dumps(content)
        if fast is not None:
            return fast
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def build_app(
    spec: SyncSpec,
    database_url: str,
    airtable: Callable[[], Api] | None = None,
    *,
    shadow_share: float = 1.0,
    shadow_policy: ShadowPolicy | None = None,
    archive: ArchiveConfig | None = None,
    outbound: OutboundConfig | None = None,
    write_wait_seconds: float = Settings.model_fields["api_write_wait_seconds"].default,
) -> Starlette:
    """The API over the mirror tables of ``spec`` in the database at ``database_url``; ``airtable`` makes the client
    writes and reads not served from the mirror are forwarded with (``None``: every read from the mirror, writes to
    Airtable-authoritative tables refused). Each entity's reads are served where its backend flag says
    (``api/routing.py``). A write to a Postgres-authoritative table is written to the mirror and pushed by an
    outbound pusher with such a client (``outbound``: its retry settings), the answer waiting up to
    ``write_wait_seconds`` for Airtable's (``api/pg_writes.py``). ``archive``: the attachment archive whose copies
    ``/archive/…`` serves (``api/attachments.py``)."""
    catalog = Catalog(spec)
    read = MirrorReader(database_url)
    pool = connection_pool(database_url)
    whole = replace(outbound or OutboundConfig(), split_refused=False)  # a request is taken or refused as a whole
    # An app may have put {"file": …}/{"archived": …} items in a row by SQL (never through the API, which takes
    # Airtable's attachment forms only): the API's pusher uploads them as the outbound pusher would.
    uploads = UploadSources(archive, whole.upload_dir)
    pusher = (lambda: OutboundPusher(spec, pool, airtable(), whole, uploads=uploads)) if airtable is not None else None
    writes = Forwarder(airtable, pool, PostgresWrites(pool, pusher, wait_seconds=write_wait_seconds))
    shadow = ShadowReads(pool, spec, shadow_policy)
    router = Router(BackendFlags(pool, spec), shadow, read, writes, share=shadow_share)
    auth = Authenticator(lambda text: read(lambda cur: token_by_secret(cur, text)))

    async def records(request: Request) -> Response:
        try:
            segments = _segments(request)
            # The usual request's token and flag are known in memory: no thread hop for them (the two hops were ~18 %
            # of a page's CPU in the API process); a lookup that needs the database runs on a worker thread.
            header = request.headers.get("authorization")
            token = auth.remembered(header) or await run_in_threadpool(auth.token, header)
            relayed = _relayed_base(segments)
            if relayed is not None:  # metadata, webhooks, comments: Airtable's own, never the mirror's
                require_base(token, relayed, write=request.method != "GET")
                return await _relay(request, writes, segments)
            if segments == ["meta", "bases"] and request.method == "GET":
                return await _relay(request, writes, segments, only_bases=token.bases)
            if len(segments) < 2 or segments[0] in ("meta", "bases"):
                raise not_found()
            base_id = segments[0]
            catalog.base(base_id)
            require_base(token, base_id, write=request.method not in ("GET", "POST") or _is_create(segments, request))
            served = catalog.table(base_id, segments[1])
            rest = segments[2:]
            if (request.method == "GET" and not rest) or (request.method == "POST" and rest == ["listRecords"]):
                body = await _json_body(request) if request.method == "POST" else None
                mode = router.mode_now(served) or await run_in_threadpool(router.mode, served)
                if mode != POSTGRES_PRIMARY:  # Airtable answers; in shadow the mirror's answer is compared later
                    status, answer = await _relayed(request, writes, segments, body=body)
                    if mode == SHADOW and status == 200:
                        _shadow_list(router, served, request, body, answer)
                    return AirtableJSON(answer, status_code=status)
                try:
                    options = ListOptions.from_query(_query(request)) if body is None else ListOptions.from_body(body)
                    page = await run_in_threadpool(lambda: Listing(served, options, read).page())
                except ApiError as error:
                    if error.error_type != NOT_SERVED or not writes.can_relay:
                        raise
                    # What the mirror cannot know (a view, string cells, comment counts, last-modified times):
                    # Airtable answers it, through the shared bucket, rather than the mirror answering differently.
                    return await _relay(request, writes, segments, body=body)
                return AirtableJSON(page.body())
            if request.method == "GET" and len(rest) == 1:
                query = {k: v for k, v in _query(request).items() if k in _GET_ONE_PARAMS}
                options = ListOptions.from_query(query)
                mode = router.mode_now(served) or await run_in_threadpool(router.mode, served)
                if mode != POSTGRES_PRIMARY:
                    status, answer = await _relayed(request, writes, segments)
                    if mode == SHADOW and status == 200:
                        router.after_get(served, rest[0], options.by_field_id, _described(request), answer)
                    return AirtableJSON(answer, status_code=status)
                owner, record = await run_in_threadpool(_find_record, read, catalog, served, rest[0])
                return AirtableJSON(shape(owner, record, by_field_id=options.by_field_id, field_ids=None))
            if len(rest) <= 1 and not (request.method == "POST" and rest):
                body = await _json_body(request) if request.method != "DELETE" else {}
                query = [(k, v) for k, values in _query(request).items() for v in values]
                status, answer = await run_in_threadpool(
                    writes.write, served, request.method, rest, query, body, token.id
                )
                return AirtableJSON(answer, status_code=status)
            raise not_found()
        except ApiError as error:
            return AirtableJSON(error.body(), status_code=error.status)
        except Exception as error:
            database = describe_database_error(error)
            if database is None:
                log.exception("%s %s failed", request.method, request.url.path)
                return AirtableJSON(_server_error(), status_code=500)
            log.warning("%s %s: database unavailable: %s", request.method, request.url.path, database)
            return AirtableJSON(
                {"error": {"type": "RETRIABLE_ERROR", "message": "The database is unavailable; retry later"}},
                status_code=503,
            )

    async def health(request: Request) -> Response:
        try:
            await asyncio.wait_for(run_in_threadpool(read, lambda cur: cur.execute("select 1")), HEALTH_TIMEOUT_SECONDS)
        except Exception as error:  # noqa: BLE001 - whatever kept the database from answering, we are not healthy
            log.warning("health check failed: %s", describe_database_error(error) or type(error).__name__)
            return AirtableJSON({"status": "unavailable"}, status_code=503)
        return AirtableJSON({"status": "ok"})

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        router.close()  # shadow comparisons still waiting end with the server

    store = functools.cache(lambda: ArchiveStore(archive or ArchiveConfig()))  # opened at the first copy served
    served = archive_route(frozenset(base.id for base in spec.bases.values()), auth, read, store)
    routes = [Route(HEALTH_PATH, health), served, Route("/v0/{path:path}", records, methods=methods)]
    return Starlette(routes=routes, lifespan=lifespan)


def _find_record(read: MirrorReader, catalog: Catalog, served: ServedTable, record_id: str) -> tuple[ServedTable, Any]:
    """The record in the named table, else — as Airtable does — in another table of the same base; else 403."""
    for table in [served, *(t for t in catalog.tables(served.base.id) if t.table.id != served.table.id)]:
        found = read(lambda cur, table=table: records_by_id(cur, table.base, table.table, [record_id]))
        if record_id in found:
            return table, found[record_id]
    raise model_not_found()


def _relayed_base(segments: list[str]) -> str | None:
    """The base a passed-through request is about: ``meta/bases/{base}/…``, ``bases/{base}/webhooks…``,
    ``{base}/{table}/{record}/comments…``; ``None`` for everything else."""
    if len(segments) >= 4 and segments[:2] == ["meta", "bases"]:
        return segments[2]
    if len(segments) >= 3 and segments[0] == "bases" and segments[2] == "webhooks":
        return segments[1]
    if len(segments) >= 4 and segments[0] not in ("meta", "bases") and segments[3] == "comments":
        return segments[0]
    return None


def _shadow_list(router: Router, served: ServedTable, request: Request, body: Any | None, answer: Any) -> None:
    try:
        options = ListOptions.from_query(_query(request)) if body is None else ListOptions.from_body(body)
    except ApiError:
        return  # Airtable accepted what the mirror would refuse: nothing to compare
    router.after_list(served, options, _described(request), answer)


def _described(request: Request) -> str:
    """The request as a mismatch record keeps it: method, path and query (a token never travels in either)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{request.method} {request.url.path}" + (f"?{query}" if query else "")


async def _relayed(
    request: Request, writes: Forwarder, segments: list[str], *, body: Any | None = None
) -> tuple[int, Any]:
    """Airtable's answer to this request, passed through as it came (through the shared bucket)."""
    if body is None and request.method in ("POST", "PATCH", "PUT"):
        body = await _json_body(request)
    query = [(k, v) for k, values in _query(request).items() for v in values]
    return await run_in_threadpool(writes.relay, request.method, segments, query, body)


async def _relay(
    request: Request,
    writes: Forwarder,
    segments: list[str],
    *,
    only_bases: tuple[str, ...] | None = None,
    body: Any | None = None,
) -> Response:
    """Pass a request through to Airtable; ``only_bases`` narrows the list of bases to the token's own; ``body``: the
    JSON body when it was already read."""
    status, answer = await _relayed(request, writes, segments, body=body)
    if only_bases is not None and status == 200 and isinstance(answer, dict):
        answer = {**answer, "bases": [b for b in answer.get("bases", []) if b.get("id") in only_bases]}
    return AirtableJSON(answer, status_code=status)


def _segments(request: Request) -> list[str]:
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    parts = path.split("/")[2:]  # "", "v0", …
    if parts and parts[-1] == "":
        parts.pop()
    try:
        return [unquote(part, errors="strict") for part in parts]
    except UnicodeDecodeError:
        raise not_found() from None


def _query(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def _is_create(segments: list[str], request: Request) -> bool:
    return request.method == "POST" and segments[2:] != ["listRecords"]


async def _json_body(request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "INVALID_REQUEST_BODY", "Could not parse request body as JSON") from None
    # JSON may escape a lone surrogate ("\ud800"), which no valid Unicode text (nor Postgres) holds: refused at the
    # door, as the sandbox refuses it, rather than half-served by a read or a write later.
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise unprocessable(
            "INVALID_REQUEST_UNKNOWN",
            "Invalid request: the request body holds a string that is not valid Unicode (an unpaired surrogate).",
        ) from None
    return parsed


def _too_large() -> ApiError:
    return ApiError(413, "REQUEST_TOO_LARGE", f"The request body is larger than {MAX_BODY_BYTES} bytes")


def _server_error() -> dict:
    return {"error": {"type": "SERVER_ERROR", "message": "Unexpected server error"}}
