"""The webhooks API's routes under ``v0/bases/:base_id/webhooks`` (API.md §6)."""

from __future__ import annotations

import base64
import secrets
from functools import partial
from typing import TYPE_CHECKING

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.http import ApiError, Request, Response, Route
from airtable_sandbox.webhooks import store_reads
from airtable_sandbox.webhooks.hooks import WEBHOOK_LIFETIME_SECONDS, Hook, PingState, new_webhook_id
from airtable_sandbox.webhooks.specification import checked_object, invalid_request, parse_specification

if TYPE_CHECKING:
    from airtable_sandbox.webhooks.specification import HookSpec
    from airtable_sandbox.webhooks.state import WebhooksState


MAX_WEBHOOKS_PER_BASE = 10
MAX_PAYLOADS_PER_PAGE = 50


BODY_KEYS = frozenset({"notificationUrl", "specification"})


def routes(state: WebhooksState) -> list[Route]:
    hooks = "v0/bases/:base_id/webhooks"
    return [
        Route("POST", hooks, partial(create_hook, state)),
        Route("GET", hooks, partial(list_hooks, state)),
        Route("DELETE", f"{hooks}/:webhook_id", partial(delete_hook, state)),
        Route("POST", f"{hooks}/:webhook_id/refresh", partial(refresh_hook, state)),
        Route("POST", f"{hooks}/:webhook_id/enableNotifications", partial(enable_notifications, state)),
        Route("GET", f"{hooks}/:webhook_id/payloads", partial(list_payloads, state)),
    ]


def _webhook_not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND")


def create_hook(state: WebhooksState, request: Request, params: dict[str, str]) -> Response:
    base_id = params["base_id"]
    table_ids = _require_base(state, base_id)
    body = checked_object(request.json(), "body", BODY_KEYS)
    url = body.get("notificationUrl")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise invalid_request('"notificationUrl" must be an http(s) URL')
    spec = parse_specification(body.get("specification"))
    _check_scope(state, base_id, table_ids, spec)
    now = state.clock.time()
    secret = secrets.token_bytes(32)
    with state.cond:
        state.expire(now)
        base_hooks = state.hooks.setdefault(base_id, {})
        if len(base_hooks) >= MAX_WEBHOOKS_PER_BASE:
            raise ApiError(422, "TOO_MANY_WEBHOOKS", f"A base can have at most {MAX_WEBHOOKS_PER_BASE} webhooks")
        hook = Hook(
            id=new_webhook_id(),
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


def list_hooks(state: WebhooksState, request: Request, params: dict[str, str]) -> Response:
    _require_base(state, params["base_id"])
    now = state.clock.time()
    with state.cond:
        state.expire(now)
        hooks = list(state.hooks.get(params["base_id"], {}).values())
        return Response(200, {"webhooks": [hook.describe(now) for hook in hooks]})


def delete_hook(state: WebhooksState, request: Request, params: dict[str, str]) -> Response:
    _require_base(state, params["base_id"])
    with state.cond:
        hook = _find(state, params)
        del state.hooks[hook.base_id][hook.id]
        hook.ping = PingState()
    return Response(200, {})


def refresh_hook(state: WebhooksState, request: Request, params: dict[str, str]) -> Response:
    _require_base(state, params["base_id"])
    now = state.clock.time()
    with state.cond:
        hook = _find(state, params)
        if not hook.is_enabled(now):
            # Airtable: "only applies to active webhooks"; the error type is undocumented (sandbox choice).
            raise ApiError(
                422,
                "CANNOT_REFRESH_DISABLED_WEBHOOK",
                "Only active webhooks can be refreshed; create a new webhook",
            )
        hook.expiration_time = now + WEBHOOK_LIFETIME_SECONDS
        return Response(200, {"expirationTime": iso_millis(hook.expiration_time)})


def enable_notifications(state: WebhooksState, request: Request, params: dict[str, str]) -> Response:
    _require_base(state, params["base_id"])
    body = request.json()
    enable = body.get("enable") if isinstance(body, dict) else None
    if not isinstance(enable, bool):
        raise invalid_request('"enable" must be a boolean')
    with state.cond:
        hook = _find(state, params)
        hook.notifications_enabled = enable
        if not enable:
            hook.ping = PingState(in_flight=hook.ping.in_flight)
    return Response(200, {})


def list_payloads(state: WebhooksState, request: Request, params: dict[str, str]) -> Response:
    _require_base(state, params["base_id"])
    cursor = _positive_int(request.first("cursor"), "cursor", default=1)
    # Airtable caps a page at 50; a larger limit is capped rather than refused (sandbox choice).
    limit = min(_positive_int(request.first("limit"), "limit", default=MAX_PAYLOADS_PER_PAGE), MAX_PAYLOADS_PER_PAGE)
    now = state.clock.time()
    with state.cond:
        hook = _find(state, params)
        if hook.is_active(now):
            hook.expiration_time = now + WEBHOOK_LIFETIME_SECONDS
        return Response(200, hook.page(cursor, limit))


def _require_base(state: WebhooksState, base_id: str) -> list[str]:
    """The base's table ids; an unknown base answers like the meta API does (403)."""
    tables = store_reads.base_tables(state.store, base_id)
    if tables is None:
        raise ApiError(
            403,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
            "Invalid permissions, or the requested model was not found. Check that both your user "
            "and your token have the required permissions, and that the model names and/or ids are "
            "correct.",
        )
    return [table["id"] for table in tables]


def _check_scope(state: WebhooksState, base_id: str, table_ids: list[str], spec: HookSpec) -> None:
    scope = spec.record_change_scope
    if scope is not None and scope not in table_ids:
        raise invalid_request(f'"recordChangeScope" {scope} is not a table of base {base_id}')
    tables = [scope] if scope else table_ids
    known_fields = {
        f["id"]
        for table_id in tables
        for f in (store_reads.table_schema(state.store, base_id, table_id) or {}).get("fields", [])
    }
    if unknown := sorted(spec.watched_field_ids - known_fields):
        raise invalid_request(f'"watchDataInFieldIds" has unknown field ids {unknown}')


def _find(state: WebhooksState, params: dict[str, str]) -> Hook:
    """Caller holds the lock."""
    state.expire(state.clock.time())
    hook = state.find(params["base_id"], params["webhook_id"])
    if hook is None:
        raise _webhook_not_found()
    return hook


def _positive_int(raw: str | None, name: str, *, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_request(f'"{name}" must be a positive integer') from None
    if value < 1:
        raise invalid_request(f'"{name}" must be a positive integer')
    return value
