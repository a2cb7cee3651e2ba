"""The errors of talking to Airtable, as the rest of airtable_pg sees them.

pyairtable raises ``requests`` exceptions; they are translated here, at the client boundary, so the sync
engine, the commands and the Dagster layer decide on kinds (retry? the token? a bad request?) without
importing ``requests`` or reading HTTP bodies. Messages carry Airtable's error type and message, never
the token or a request header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import requests


class AirtableError(Exception):
    """Airtable did not do what was asked. ``status`` is the HTTP status, if there was an answer."""

    def __init__(
        self, message: str, *, status: int | None = None, error_type: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.detail = detail  # Airtable's own message, as it gave it (the API relays a refusal with it)

    permanent = True  # retrying the same request cannot help


class AirtableAuthError(AirtableError):
    """401 or 403: the token is wrong, lacks a scope, or has no access to the base."""


class AirtableNotFound(AirtableError):
    """404: no such base, table, record or webhook (or the token may not see it)."""


class AirtableBadRequest(AirtableError):
    """400/422 and other 4xx: the request itself is wrong (a bad formula, an unknown field, a bad value)."""


class ListIteratorExpired(AirtableBadRequest):
    """Airtable dropped a list iterator (idle too long, or a server restart): restart the listing."""

    permanent = False


class AirtableRateLimited(AirtableError):
    """429s kept coming after every retry the client allows."""

    permanent = False


class AirtableUnavailable(AirtableError):
    """5xx or no answer at all (connection refused, timeout) after every retry the client allows."""

    permanent = False


def _airtable_error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """``(type, message)`` from Airtable's ``{"error": {"type", "message"}}`` or ``{"error": "TYPE"}``."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        return (kind if isinstance(kind, str) else None), (message if isinstance(message, str) else None)
    if isinstance(error, str):
        return error, None
    return None, None


def from_response(response: requests.Response) -> AirtableError:
    status = response.status_code
    kind, detail = _airtable_error_body(response)
    said = f"{kind}: {detail}" if kind and detail else (kind or detail or response.reason or "no reason given")
    if status == 401:
        return AirtableAuthError(
            f"Airtable refused the token (HTTP 401, {said}): check AIRTABLE_API_KEY and its scopes",
            status=status,
            error_type=kind,
        )
    if status == 403:
        return AirtableAuthError(
            f"Airtable denied access (HTTP 403, {said}): the token needs the scope and access to this base",
            status=status,
            error_type=kind,
        )
    if status == 404:
        return AirtableNotFound(f"Airtable found nothing there (HTTP 404, {said})", status=status, error_type=kind)
    if status == 429:
        return AirtableRateLimited(f"Airtable kept answering HTTP 429 ({said})", status=status, error_type=kind)
    if status >= 500:
        return AirtableUnavailable(f"Airtable answered HTTP {status} ({said})", status=status, error_type=kind)
    if kind == "LIST_RECORDS_ITERATOR_NOT_AVAILABLE":
        return ListIteratorExpired(f"Airtable dropped the list iterator ({said})", status=status, error_type=kind)
    return AirtableBadRequest(
        f"Airtable rejected the request (HTTP {status}, {said})", status=status, error_type=kind, detail=detail
    )


def translate(error: requests.RequestException) -> AirtableError:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return from_response(error.response)
    # No answer: the message names the host and the failure; requests never puts headers in it.
    return AirtableUnavailable(f"Airtable could not be reached: {type(error).__name__}: {error}")


@contextmanager
def airtable_errors() -> Iterator[None]:
    """Translate whatever ``requests`` raises inside the block into an :class:`AirtableError`."""
    try:
        yield
    except requests.RequestException as error:
        raise translate(error) from error
