"""Airtable's webhooks API, as the sync needs it: create, list, refresh, delete, and payload pages from a cursor.

Every call goes through a rate-limited pyairtable ``Api`` (``client.make_api``) and raises ``AirtableError``s.
Payloads are read a page at a time (the raw JSON: cursor, mightHaveMore, payloads) so the caller can apply a
page and store the page's cursor in one transaction; pyairtable's ``Webhook.payloads`` iterator hides the
page boundaries that make that possible.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pyairtable import Api

from airtable_pg.airtable.errors import airtable_errors

PAYLOAD_PAGE_LIMIT = 50  # Airtable's maximum per call


def specification() -> dict[str, Any]:
    """One hook per base: every table's records, fields and metadata, with every cell of a changed record.

    ``includeCellValuesInFieldIds: "all"`` puts the record's other cells under ``unchanged``, so a changed
    record arrives whole (no read of the stored row is needed to know its full state).
    """
    return {
        "options": {
            "filters": {"dataTypes": ["tableData", "tableFields", "tableMetadata"]},
            "includes": {"includeCellValuesInFieldIds": "all"},
        }
    }


def _hooks_url(api: Api, base_id: str, *parts: str) -> str:
    return api.build_url("bases", base_id, "webhooks", *parts)


def list_hooks(api: Api, base_id: str) -> list[dict[str, Any]]:
    with airtable_errors():
        return list(api.get(_hooks_url(api, base_id)).get("webhooks", []))


def create_hook(api: Api, base_id: str, notification_url: str | None, spec: dict[str, Any]) -> dict[str, Any]:
    """``{"id", "macSecretBase64", "expirationTime"}``; the secret cannot be read again later."""
    body: dict[str, Any] = {"specification": spec}
    if notification_url:
        body["notificationUrl"] = notification_url
    with airtable_errors():
        return api.post(_hooks_url(api, base_id), json=body)


def delete_hook(api: Api, base_id: str, hook_id: str) -> None:
    with airtable_errors():
        api.request("DELETE", _hooks_url(api, base_id, hook_id))


def refresh_hook(api: Api, base_id: str, hook_id: str) -> datetime | None:
    with airtable_errors():
        answer = api.post(_hooks_url(api, base_id, hook_id, "refresh"))
    return parse_time(answer.get("expirationTime"))


def enable_notifications(api: Api, base_id: str, hook_id: str) -> None:
    with airtable_errors():
        api.post(_hooks_url(api, base_id, hook_id, "enableNotifications"), json={"enable": True})


def payload_page(api: Api, base_id: str, hook_id: str, cursor: int) -> dict[str, Any]:
    """One page: ``{"cursor": next, "mightHaveMore": bool, "payloads": [...]}`` (also extends the hook's expiry)."""
    with airtable_errors():
        return api.get(
            _hooks_url(api, base_id, hook_id, "payloads"), params={"cursor": cursor, "limit": PAYLOAD_PAGE_LIMIT}
        )


def find(hooks: Iterable[dict[str, Any]], hook_id: str) -> dict[str, Any] | None:
    return next((hook for hook in hooks if hook.get("id") == hook_id), None)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
