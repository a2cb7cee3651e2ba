"""Attachment content at URLs that expire, as Airtable serves it (``v5.airtableusercontent.com``).

Airtable returns each attachment's ``url`` (and its thumbnails' URLs) signed and valid for at least two hours
from the read that returned it (API.md §1.3); after that the URL answers an error and a client must read the
record again for a fresh one. The sandbox does the same: record reads and webhook payloads carrying attachment
cells get signed URLs under ``/_content/…`` on the sandbox's own address, valid for ``ttl_seconds`` or more on
the sandbox's clock (tests advance it instead of waiting); a URL is handed out again until half its life is
gone, then a new one. The signature covers the attachment
id, the variant (the file or a thumbnail), the byte count and the expiry, so a URL cannot be extended or pointed
at other bytes.

The bytes themselves are made up: deterministic for an attachment id and size (a seeded stream), so a copy can be
verified byte for byte against a second download. The sandbox does not fetch URLs written into attachment cells;
an attachment added by URL gets a made-up size derived from its id. An attachment uploaded through the upload
endpoint (``uploadAttachment``, at most ``MAX_UPLOAD_BYTES``) is served with the bytes that were uploaded, kept in
memory for the sandbox's life.

What an expired URL answers: the shared Airtable facts do not record it; public reports quote the page's text
"This URL has expired", and the sandbox answers it with 410 Gone (``EXPIRED_STATUS``). Clients should treat any
4xx from a content URL as "read the record again".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
import threading
from typing import Any
from urllib.parse import quote

from airtable_sandbox.clock import Clock
from airtable_sandbox.http import Response

DEFAULT_TTL_SECONDS = 2 * 60 * 60  # Airtable: "at least 2 hours" after the read that returned the URL
EXPIRED_STATUS = 410
EXPIRED_BODY = b"This URL has expired"
NOT_FOUND_BODY = b"Not Found"
ROUTE = "_content"
THUMBNAIL_VARIANTS = ("small", "large", "full")
_FILE = "file"
# Airtable: "Upload an attachment up to 5 MB". Whether it means 10^6 or 2^20 bytes is not documented: the sandbox
# takes the stricter reading, so what it accepts Airtable accepts too.
MAX_UPLOAD_BYTES = 5_000_000


class AttachmentContent:
    """Signs attachment objects for a read and serves their bytes until the signature expires."""

    def __init__(self, clock: Clock, ttl_seconds: float = DEFAULT_TTL_SECONDS, *, secret: bytes | None = None) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.base_url = ""  # the sandbox's own address, set once its server is bound
        self._secret = secret or secrets.token_bytes(32)
        self._issued: dict[str, int] = {}  # attachment id → the expiry of its current URL (epoch ms)
        self._uploaded: dict[str, bytes] = {}  # attachment id → the bytes uploaded for it
        self._lock = threading.Lock()

    # -- signing (on every read) -----------------------------------------------------------------------

    def sign_cell(self, value: Any) -> Any:
        """An attachment cell with fresh URLs; any other value unchanged (copies: the store keeps its own)."""
        if not isinstance(value, list):
            return value
        return [self.sign(item) if is_attachment(item) else item for item in value]

    def sign(self, attachment: dict[str, Any]) -> dict[str, Any]:
        att_id = attachment["id"]
        expires_ms = self._expiry(att_id)
        size = content_size(attachment)
        signed = {**attachment, "size": size, "url": self._url(att_id, _FILE, size, expires_ms, attachment["filename"])}
        if isinstance(attachment.get("thumbnails"), dict):
            signed["thumbnails"] = {
                name: {**thumb, "url": self._url(att_id, name, thumbnail_size(size, thumb), expires_ms, name)}
                for name, thumb in attachment["thumbnails"].items()
                if isinstance(thumb, dict)
            }
        return signed

    def _expiry(self, att_id: str) -> int:
        """The attachment's current expiry: reused while at least half its life is left, then a new one.

        Reads close together return the same URL (as Airtable's, whose expiry moments are coarse), so a record read
        twice in a row, or read and sent in a webhook payload, carries equal cells; URLs change as time passes.
        """
        now_ms = self.clock.time() * 1000
        ttl_ms = self.ttl_seconds * 1000
        with self._lock:
            expires = self._issued.get(att_id)
            if expires is None or expires - now_ms < ttl_ms / 2:
                expires = self._issued[att_id] = int(now_ms + ttl_ms)
            return expires

    def _url(self, att_id: str, variant: str, size: int, expires_ms: int, filename: str) -> str:
        signature = self._signature(att_id, variant, size, expires_ms)
        return f"{self.base_url}/{ROUTE}/{expires_ms}/{signature}/{att_id}/{variant}/{size}/{quote(filename, safe='')}"

    def _signature(self, att_id: str, variant: str, size: int, expires_ms: int) -> str:
        message = f"{att_id}\n{variant}\n{size}\n{expires_ms}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode("ascii")

    # -- uploaded content ------------------------------------------------------------------------------

    def keep_upload(self, att_id: str, content: bytes) -> None:
        """Serve ``content`` as the attachment's file from now on.

        Called before the cell is written, so a reader who sees the attachment never downloads other bytes.
        """
        with self._lock:
            self._uploaded[att_id] = content

    def forget_upload(self, att_id: str) -> None:
        """The upload's write failed: nothing will ever name the attachment."""
        with self._lock:
            self._uploaded.pop(att_id, None)

    # -- serving ---------------------------------------------------------------------------------------

    def serve(self, segments: list[str]) -> Response:
        """``_content/{expires_ms}/{signature}/{att_id}/{variant}/{size}/{filename}`` → the bytes, or an error."""
        if len(segments) != 7 or segments[0] != ROUTE:
            return _text(404, NOT_FOUND_BODY)
        _, expires, signature, att_id, variant, size_text, _filename = segments
        if not (expires.isdigit() and size_text.isdigit()):
            return _text(404, NOT_FOUND_BODY)
        expected = self._signature(att_id, variant, int(size_text), int(expires))
        if not hmac.compare_digest(expected, signature):
            return _text(404, NOT_FOUND_BODY)
        if self.clock.time() * 1000 >= int(expires):
            return _text(EXPIRED_STATUS, EXPIRED_BODY)
        with self._lock:
            uploaded = self._uploaded.get(att_id) if variant == _FILE else None
        body = uploaded if uploaded is not None else content_bytes(att_id, variant, int(size_text))
        return Response(200, body, {"Content-Type": "application/octet-stream", "Cache-Control": "private"})


def is_attachment(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("id", "")).startswith("att") and "filename" in value


def content_size(attachment: dict[str, Any]) -> int:
    """The attachment's byte count; one added by URL (size 0 in the store) gets a made-up one from its id."""
    size = attachment.get("size")
    if isinstance(size, int) and size > 0:
        return size
    seed = hashlib.sha256(str(attachment.get("id")).encode()).digest()
    return 1024 + int.from_bytes(seed[:4], "big") % (64 * 1024)


def thumbnail_size(size: int, thumb: dict[str, Any]) -> int:
    """A thumbnail's byte count: about a byte per pixel, never more than the file."""
    pixels = int(thumb.get("width") or 1) * int(thumb.get("height") or 1)
    return max(64, min(size, pixels))


def content_bytes(att_id: str, variant: str, size: int) -> bytes:
    """The attachment's made-up bytes: the same for the same id, variant and size, on every sandbox."""
    return random.Random(f"{att_id}/{variant}").randbytes(size)


def _text(status: int, body: bytes) -> Response:
    return Response(status, body, {"Content-Type": "text/plain; charset=utf-8"})
