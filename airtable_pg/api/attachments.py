"""``GET /archive/{path}``: an archived attachment's bytes at a stable URL (issue 25), authenticated as the rest.

``path`` is the copy's key in the archive store, the ``path`` column of ``airtable_sync.attachment_archive``:
``<base id>/<attachment id>/<filename>`` for the file, ``<base id>/<attachment id>/thumbnails/<variant>`` for a
thumbnail. So with ``AIRTABLE_PG_ARCHIVE_PUBLIC_URL`` set to this API's ``…/archive``, the view's ``url`` column
is exactly the address this route serves, and it stays valid for as long as the copy is kept (Airtable's own URLs
expire after about two hours).

- Access: a token of ``airtable-pg api tokens`` (``Authorization: Bearer …``) that was given the base: 401 without
  one, 403 for a base it was not given, and the same 403 for an attachment with no verified copy here (as Airtable
  answers a record the token cannot see). A base not in the spec is a 404.
- The answer: the attachment's own content type (a thumbnail's from its first bytes, else the attachment's when
  that is an image); a strong ``ETag`` (the sha256 the archive verified), ``If-None-Match`` → 304; one byte
  ``Range`` (``bytes=a-b``, ``a-``, ``-n``) → 206, an unsatisfiable one → 416; several ranges get the whole file
  (a server may ignore ``Range``). A copy never changes at its key (an Airtable attachment id names one file),
  so it may be cached privately.
- Uploaded files are served as data, never as a page of the API's origin: ``nosniff`` and a sandboxing
  ``Content-Security-Policy``, so an HTML or SVG attachment cannot run script there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from airtable_pg.api.auth import Authenticator, require_base
from airtable_pg.api.errors import ApiError, model_not_found, not_found
from airtable_pg.archive.store import ArchiveStore
from airtable_pg.postgres.api_reads import MirrorReader
from airtable_pg.postgres.attachments import ServedCopy, served_copy

ARCHIVE_PATH = "/archive"
CHUNK_BYTES = 256 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, max-age=86400",
    "Accept-Ranges": "bytes",
}


@dataclass(frozen=True)
class Served:
    """One file of an archived attachment: its key in the store and what the answer says about it."""

    key: str
    size: int
    sha256: str | None
    content_type: str | None  # None: decided from the first bytes
    filename: str | None  # the Content-Disposition name (the file's, not a thumbnail's)


def archive_route(
    base_ids: frozenset[str], auth: Authenticator, read: MirrorReader, store: Callable[[], ArchiveStore]
) -> Route:
    """The route, for ``build_app`` to register; ``store`` opens the archive store on first use."""

    async def serve(request: Request) -> Response:
        try:
            header = request.headers.get("authorization")
            token = auth.remembered(header) or await run_in_threadpool(auth.token, header)
            key = request.path_params["path"]
            parts = key.split("/")
            if len(parts) < 3:
                raise not_found()
            base_id, attachment_id = parts[0], parts[1]
            if base_id not in base_ids:
                raise not_found()
            require_base(token, base_id)
            copy = await run_in_threadpool(read, lambda cur: served_copy(cur, base_id, attachment_id))
            served = _file_at(copy, key) if copy is not None else None
            if served is None:
                raise model_not_found()
            return await run_in_threadpool(lambda: _answer(request, store(), served))  # opening may block
        except ApiError as error:
            return JSONResponse(error.body(), status_code=error.status)

    return Route(ARCHIVE_PATH + "/{path:path}", serve, methods=["GET", "HEAD"])


def _file_at(copy: ServedCopy, key: str) -> Served | None:
    """The attachment's file or the thumbnail stored at ``key``; ``None`` when ``key`` is neither."""
    if key == copy.store_key:
        return Served(key, copy.size or 0, copy.sha256, copy.content_type or "application/octet-stream", copy.filename)
    for thumbnail in copy.thumbnails.values():
        if isinstance(thumbnail, dict) and thumbnail.get("key") == key:
            image = copy.content_type if (copy.content_type or "").startswith("image/") else None
            return Served(key, int(thumbnail.get("size") or 0), thumbnail.get("sha256"), image, None)
    return None


def _answer(request: Request, store: ArchiveStore, served: Served) -> Response:
    headers = dict(_HEADERS)
    etag = f'"{served.sha256}"' if served.sha256 else None
    if etag:
        headers["ETag"] = etag
        if etag in _listed(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
    handle = store.open(served.key)
    try:
        head = handle.read(16)
        handle.seek(0)
        headers["Content-Type"] = served.content_type or _sniffed(head) or "application/octet-stream"
        if served.filename:
            headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(served.filename, safe='')}"
        wanted = request.headers.get("range")
        if wanted and (request.headers.get("if-range") in (None, etag)):
            span = _span(wanted, served.size)
            if span is None:
                handle.close()
                return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{served.size}"})
            if span != (0, served.size - 1):
                start, end = span
                headers["Content-Range"] = f"bytes {start}-{end}/{served.size}"
                headers["Content-Length"] = str(end - start + 1)
                return _stream(handle, start, end - start + 1, 206, headers)
        headers["Content-Length"] = str(served.size)
        return _stream(handle, 0, served.size, 200, headers)
    except BaseException:
        handle.close()
        raise


def _stream(handle: IO[bytes], start: int, length: int, status: int, headers: dict[str, str]) -> Response:
    def chunks() -> Iterator[bytes]:
        try:
            handle.seek(start)
            left = length
            while left > 0:
                chunk = handle.read(min(CHUNK_BYTES, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    return StreamingResponse(chunks(), status_code=status, headers=headers)


def _span(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, clipped to the file; ``(0, size - 1)`` (the whole file) for several ranges or
    a header we do not read; ``None`` when unsatisfiable."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or "," in header:
        return (0, size - 1)
    first, last = match.groups()
    if not first and not last:
        return (0, size - 1)
    if not first:  # the last n bytes
        n = int(last)
        return None if n == 0 or size == 0 else (max(size - n, 0), size - 1)
    start = int(first)
    if last and int(last) < start:  # not a valid range: the header is ignored (RFC 9110, 14.2)
        return (0, size - 1)
    if start >= size:
        return None
    return (start, min(int(last), size - 1) if last else size - 1)


def _listed(header: str | None) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in (header or "").split(",") if tag.strip()}


def _sniffed(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)
