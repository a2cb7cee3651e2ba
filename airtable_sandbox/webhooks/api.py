"""The webhooks API's routes under ``v0/bases/:base_id/webhooks`` (API.md §6)."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.http import ApiError, Request, Response
from airtable_sandbox.webhooks.cells import _table_schema
from airtable_sandbox.webhooks.hooks import WEBHOOK_LIFETIME_SECONDS, Hook, PingState, _new_webhook_id
from airtable_sandbox.webhooks.specification import _invalid, _object, parse_specification

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.service import WebhookService
    from airtable_sandbox.webhooks.specification import HookSpec


MAX_WEBHOOKS_PER_BASE = 10
MAX_PAYLOADS_PER_PAGE = 50


BODY_KEYS = frozenset({"notificationUrl", "specification"})


def _webhook_not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND")


def create_hook(service: WebhookService, request: Request, params: dict[str, str]) -> Response:
    base_id = params["base_id"]
    table_ids = _require_base(service, base_id)
    body = _object(request.json(), "body", BODY_KEYS)
    url = body.get("notificationUrl")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise _invalid('"notificationUrl" must be an http(s) URL')
    spec = parse_specification(body.get("specification"))
    _check_scope(service, base_id, table_ids, spec)
    now = service._clock.time()
    secret = secrets.token_bytes(32)
    with service._cond:
        service._expire(now)
        base_hooks = service._hooks.setdefault(base_id, {})
        if len(base_hooks) >= MAX_WEBHOOKS_PER_BASE:
            raise ApiError(422, "TOO_MANY_WEBHOOKS", f"A base can have at most {MAX_WEBHOOKS_PER_BASE} webhooks")
        hook = Hook(
            id=_new_webhook_id(),
            base_id=base_id,
            secret=secret,
            notification_url=url,
            specification=body["specification"],
            spec=spec,
            expiration_time=now + WEBHOOK_LIFETIME_SECONDS,
            notifications_enabled=url is not None,
        )
        base_hooks[hook.id] = hook
    return Response(
        200,
        {
            "id": hook.id,
            "macSecretBase64": base64.b64encode(secret).decode("ascii"),
            "expirationTime": iso_millis(hook.expiration_time),
        },
    )


def list_hooks(service: WebhookService, request: Request, params: dict[str, str]) -> Response:
    _require_base(service, params["base_id"])
    now = service._clock.time()
    with service._cond:
        service._expire(now)
        hooks = list(service._hooks.get(params["base_id"], {}).values())
        return Response(200, {"webhooks": [hook.describe(now) for hook in hooks]})


def delete_hook(service: WebhookService, request: Request, params: dict[str, str]) -> Response:
    _require_base(service, params["base_id"])
    with service._cond:
        hook = _find(service, params)
        del service._hooks[hook.base_id][hook.id]
        hook.ping = PingState()
    return Response(200, {})


def refresh_hook(service: WebhookService, request: Request, params: dict[str, str]) -> Response:
    _require_base(service, params["base_id"])
    now = service._clock.time()
    with service._cond:
        hook = _find(service, params)
        if not hook.is_enabled(now):
            # Airtable: "only applies to active webhooks"; the error type is undocumented (sandbox choice).
            raise ApiError(
                422,
                "CANNOT_REFRESH_DISABLED_WEBHOOK",
                "Only active webhooks can be refreshed; create a new webhook",
            )
        hook.expiration_time = now + WEBHOOK_LIFETIME_SECONDS
        return Response(200, {"expirationTime": iso_millis(hook.expiration_time)})


def enable_notifications(service: WebhookService, request: Request, params: dict[str, str]) -> Response:
    _require_base(service, params["base_id"])
    body = request.json()
    enable = body.get("enable") if isinstance(body, dict) else None
    if not isinstance(enable, bool):
        raise _invalid('"enable" must be a boolean')
    with service._cond:
        hook = _find(service, params)
        hook.notifications_enabled = enable
        if not enable:
            hook.ping = PingState(in_flight=hook.ping.in_flight)
    return Response(200, {})


def list_payloads(service: WebhookService, request: Request, params: dict[str, str]) -> Response:
    _require_base(service, params["base_id"])
    cursor = _positive_int(request.first("cursor"), "cursor", default=1)
    # Airtable caps a page at 50; a larger limit is capped rather than refused (sandbox choice).
    limit = min(_positive_int(request.first("limit"), "limit", default=MAX_PAYLOADS_PER_PAGE), MAX_PAYLOADS_PER_PAGE)
    now = service._clock.time()
    with service._cond:
        hook = _find(service, params)
        if hook.is_active(now):
            hook.expiration_time = now + WEBHOOK_LIFETIME_SECONDS
        return Response(200, hook.page(cursor, limit))


def _require_base(service: WebhookService, base_id: str) -> list[str]:
    """The base's table ids; an unknown base answers like the meta API does (403)."""
    table_ids = _base_table_ids(service._store, base_id)
    if table_ids is None:
        raise ApiError(
            403,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
            "Invalid permissions, or the requested model was not found. Check that both your user "
            "and your token have the required permissions, and that the model names and/or ids are "
            "correct.",
        )
    return table_ids


def _check_scope(service: WebhookService, base_id: str, table_ids: list[str], spec: HookSpec) -> None:
    scope = spec.record_change_scope
    if scope is not None and scope not in table_ids:
        raise _invalid(f'"recordChangeScope" {scope} is not a table of base {base_id}')
    tables = [scope] if scope else table_ids
    known_fields = {
        f["id"]
        for table_id in tables
        for f in (_table_schema(service._store, base_id, table_id) or {}).get("fields", [])
    }
    if unknown := sorted(spec.watched_field_ids - known_fields):
        raise _invalid(f'"watchDataInFieldIds" has unknown field ids {unknown}')


def _find(service: WebhookService, params: dict[str, str]) -> Hook:
    """Caller holds the lock."""
    service._expire(service._clock.time())
    hook = service._hooks.get(params["base_id"], {}).get(params["webhook_id"])
    if hook is None:
        raise _webhook_not_found()
    return hook


def _positive_int(raw: str | None, name: str, *, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(f'"{name}" must be a positive integer') from None
    if value < 1:
        raise _invalid(f'"{name}" must be a positive integer')
    return value


def _base_table_ids(store: Any, base_id: str) -> list[str] | None:
    """The table ids of a base, or None when the store has no such base."""
    try:
        tables = store.base_tables(base_id)
    except (ApiError, KeyError, LookupError):
        return None
    return [table["id"] for table in tables] if tables is not None else None
