"""The sandbox's tiny HTTP vocabulary: requests, responses, Airtable-shaped errors and routes.

Kept framework-free on purpose: the records API, the metadata API and the webhooks API each
declare routes against these types, and one server (``server.py``) dispatches them. Routing is
done on the *raw* path split on ``/`` before percent-decoding, because pyairtable quotes table
names with ``safe=""`` (a table called ``a/b`` arrives as ``a%2Fb``) and must stay one segment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


class ApiError(Exception):
    """An error the sandbox answers the way Airtable does: ``{"error": {"type", "message"}}``.

    ``message=None`` renders the bare ``{"error": {"type": ...}}`` form; ``bare=True`` renders
    ``{"error": "NOT_FOUND"}`` (Airtable uses both for 404s).
    """

    def __init__(self, status: int, error_type: str, message: str | None = None, *, bare: bool = False):
        super().__init__(f"{status} {error_type}: {message}")
        self.status = status
        self.error_type = error_type
        self.message = message
        self.bare = bare

    def body(self) -> Any:
        if self.bare:
            return {"error": self.error_type}
        if self.message is None:
            return {"error": {"type": self.error_type}}
        return {"error": {"type": self.error_type, "message": self.message}}


def unprocessable(error_type: str, message: str | None = None) -> ApiError:
    return ApiError(422, error_type, message)


INVALID_REQUEST = ApiError(
    422,
    "INVALID_REQUEST_UNKNOWN",
    "Invalid request: parameter validation failed. Check your request data.",
)

UNDECODABLE_BODY = ApiError(
    422,
    "INVALID_REQUEST_UNKNOWN",
    "Invalid request: the request body holds a string that is not valid Unicode (an unpaired surrogate).",
)


@dataclass
class Request:
    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def segments(self) -> list[str]:
        """Path segments, each percent-decoded after splitting (so ``%2F`` stays inside one)."""
        return [unquote(part) for part in self.raw_path.split("?", 1)[0].strip("/").split("/") if part]

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            parsed = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "INVALID_REQUEST_BODY", "Could not parse request body as JSON") from exc
        # JSON may escape a lone surrogate ("\\ud800"); no valid Unicode text holds one, so the body is refused
        # here, before any handler sees it, rather than half-applied later (422 is the sandbox's choice).
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UNDECODABLE_BODY from exc
        return parsed

    def first(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    """``pattern`` like ``"v0/bases/:base_id/webhooks/:webhook_id"``; ``:name`` captures one segment."""

    method: str
    pattern: str
    handler: Handler

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        parts = self.pattern.strip("/").split("/")
        if method != self.method or len(parts) != len(segments):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith(":"):
                params[part[1:]] = segment
            elif part != segment:
                return None
        return params
