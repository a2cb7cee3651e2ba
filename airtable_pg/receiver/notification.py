"""A notification ping as Airtable sends it: parsing the body and checking its ``X-Airtable-Content-MAC``.

Pure functions (no HTTP, no database), so the rule is tested against Airtable's own test vectors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

MAC_HEADER = "X-Airtable-Content-MAC"
MAC_PREFIX = "hmac-sha256="


class Rejection(Exception):
    """A notification the receiver refuses: the HTTP status, a reason safe to answer and log, and an optional
    detail for the log only (what the server knows about its own infrastructure stays off the wire)."""

    def __init__(self, status: int, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Notification:
    webhook_id: str
    base_id: str
    body: dict[str, Any]


def parse_notification(raw: bytes) -> Notification:
    """The ping's JSON object with its ``webhook.id`` and ``base.id``; anything else is a 400."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Rejection(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise Rejection(400, "body is not a JSON object")
    webhook_id = _nested_id(body, "webhook")
    base_id = _nested_id(body, "base")
    if webhook_id is None:
        raise Rejection(400, "body has no webhook.id")
    if base_id is None:
        raise Rejection(400, "body has no base.id")
    return Notification(webhook_id, base_id, body)


def _nested_id(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    identifier = value.get("id") if isinstance(value, dict) else None
    return identifier if isinstance(identifier, str) and identifier else None


def mac_matches(secret_base64: str, raw: bytes, header: str) -> bool:
    """``header`` is ``hmac-sha256=`` + hex HMAC-SHA256 of the raw body keyed with the base64-decoded secret.

    Always the raw bytes received (re-serialized JSON would differ), compared in constant time.
    """
    try:
        secret = base64.b64decode(secret_base64)
    except (binascii.Error, ValueError):
        return False  # a corrupt stored secret verifies nothing
    expected = (MAC_PREFIX + hmac.new(secret, raw, hashlib.sha256).hexdigest()).encode("ascii")
    # Header values arrive latin-1 decoded, so this encoding gives back the bytes that were sent.
    return hmac.compare_digest(expected, header.encode("latin-1", errors="replace"))
