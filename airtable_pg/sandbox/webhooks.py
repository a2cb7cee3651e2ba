"""The sandbox's webhooks: Airtable's webhooks API, change payloads and notification pings (API.md §6).

Routes, all under ``v0/bases/:base_id/webhooks``:

- ``POST   …/webhooks``                                  create → ``{"id", "macSecretBase64", "expirationTime"}``
- ``GET    …/webhooks``                                  list → ``{"webhooks": [...]}``
- ``DELETE …/webhooks/:webhook_id``                      delete → ``{}``
- ``POST   …/webhooks/:webhook_id/refresh``              → ``{"expirationTime"}`` (active hooks only)
- ``POST   …/webhooks/:webhook_id/enableNotifications``  body ``{"enable": bool}`` → ``{}``
- ``GET    …/webhooks/:webhook_id/payloads?cursor=&limit=``  → ``{"cursor", "mightHaveMore", "payloads"}``

Payloads are built synchronously in ``on_transaction`` (in-memory work only) so that a client which
lists payloads right after its own write sees them, as the sync engine's tests expect. Pings go out
from one background thread, never from the store's listener call: a slow receiver must not slow writes.

Every duration (expiry, retention, retry backoff) is measured on the sandbox ``Clock`` so tests can
jump a week ahead. Values the docs leave open are chosen here and marked "sandbox choice".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from airtable_pg.sandbox.clock import Clock, iso_millis
from airtable_pg.sandbox.events import Cells, ChangedRecord, CreatedRecord, TableChanges, Transaction
from airtable_pg.sandbox.http import ApiError, Request, Response, Route

log = logging.getLogger(__name__)

DAY_SECONDS = 24 * 3600
WEBHOOK_LIFETIME_SECONDS = 7 * DAY_SECONDS
PAYLOAD_RETENTION_SECONDS = 7 * DAY_SECONDS
EXPIRED_HOOK_RETENTION_SECONDS = 7 * DAY_SECONDS  # metadata and past payloads stay readable this long
MAX_WEBHOOKS_PER_BASE = 10
MAX_PAYLOADS_PER_PAGE = 50
# Airtable splits one big transaction over several payloads; the threshold is not documented (sandbox choice).
MAX_RECORDS_PER_PAYLOAD = 100
# How often the delivery thread re-reads the clock while idle, so ``Clock.advance`` is noticed promptly.
DISPATCH_POLL_SECONDS = 0.1

DATA_TYPES = frozenset({"tableData", "tableFields", "tableMetadata"})
CHANGE_TYPES = frozenset({"add", "remove", "update"})
SOURCES = frozenset(
    {
        "client",
        "publicApi",
        "formSubmission",
        "formPageSubmission",
        "automation",
        "system",
        "sync",
        "anonymousUser",
        "unknown",
    }
)
SOURCES_WITH_USER = frozenset({"client", "publicApi"})
BODY_KEYS = frozenset({"notificationUrl", "specification"})
OPTIONS_KEYS = frozenset({"filters", "includes"})
FILTER_KEYS = frozenset(
    {
        "dataTypes",
        "recordChangeScope",
        "changeTypes",
        "fromSources",
        "sourceOptions",
        "watchDataInFieldIds",
        "watchSchemasOfFieldIds",
    }
)
INCLUDES_KEYS = frozenset(
    {"includeCellValuesInFieldIds", "includePreviousCellValues", "includePreviousFieldDefinitions"}
)
# A collaborator's V2 cell carries a permission level the V1 read lacks; the sandbox's users are base creators.
DEFAULT_PERMISSION_LEVEL = "create"
ID_ALPHABET = string.ascii_letters + string.digits


def _invalid(message: str) -> ApiError:
    return ApiError(422, "INVALID_REQUEST_UNKNOWN", f"Invalid request: {message}")


def _webhook_not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND")


def _new_webhook_id() -> str:
    return "ach" + "".join(secrets.choice(ID_ALPHABET) for _ in range(14))


# ---------------------------------------------------------------------------------------------------------------
# The specification, parsed once at creation


@dataclass(frozen=True)
class HookSpec:
    """The parts of ``specification.options`` that decide what a hook's payloads contain."""

    data_types: frozenset[str]
    record_change_scope: str | None
    change_types: frozenset[str]  # empty = all
    from_sources: frozenset[str]  # empty = all
    watched_field_ids: frozenset[str]  # empty = all
    include_cell_values: frozenset[str] | str | None  # field ids, "all", or None
    include_previous_values: bool

    def wants(self, tx: Transaction) -> bool:
        return "tableData" in self.data_types and (not self.from_sources or tx.source in self.from_sources)

    def wants_table(self, table_id: str) -> bool:
        return self.record_change_scope is None or self.record_change_scope == table_id

    def wants_change_type(self, change_type: str) -> bool:
        return not self.change_types or change_type in self.change_types

    def watches(self, changed_field_ids: Iterable[str]) -> bool:
        return not self.watched_field_ids or not self.watched_field_ids.isdisjoint(changed_field_ids)

    def includes_unchanged(self, field_id: str) -> bool:
        if self.include_cell_values is None:
            return False
        return self.include_cell_values == "all" or field_id in self.include_cell_values


def _string_list(value: Any, name: str, allowed: frozenset[str] | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f'"{name}" must be an array of strings')
    if allowed is not None and (unknown := [item for item in value if item not in allowed]):
        raise _invalid(f'"{name}" has unsupported values {unknown}; allowed: {sorted(allowed)}')
    return value


def _object(value: Any, name: str, allowed_keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f'"{name}" must be an object')
    if unknown := sorted(set(value) - allowed_keys):
        raise _invalid(f'"{name}" has unknown keys {unknown}')
    return value


def _parse_filters(filters: dict[str, Any]) -> dict[str, Any]:
    if "dataTypes" not in filters:
        raise _invalid('"specification.options.filters.dataTypes" is required')
    data_types = _string_list(filters["dataTypes"], "dataTypes", DATA_TYPES)
    if not data_types:
        raise _invalid('"specification.options.filters.dataTypes" must not be empty')
    scope = filters.get("recordChangeScope")
    if scope is not None and not isinstance(scope, str):
        raise _invalid('"recordChangeScope" must be a table id')
    return {
        "data_types": frozenset(data_types),
        "record_change_scope": scope,
        "change_types": frozenset(_string_list(filters.get("changeTypes", []), "changeTypes", CHANGE_TYPES)),
        "from_sources": frozenset(_string_list(filters.get("fromSources", []), "fromSources", SOURCES)),
        "watched_field_ids": frozenset(_string_list(filters.get("watchDataInFieldIds", []), "watchDataInFieldIds")),
    }


def _parse_includes(includes: dict[str, Any]) -> dict[str, Any]:
    cell_values = includes.get("includeCellValuesInFieldIds")
    if cell_values is not None and cell_values != "all":
        cell_values = frozenset(_string_list(cell_values, "includeCellValuesInFieldIds"))
    for flag in ("includePreviousCellValues", "includePreviousFieldDefinitions"):
        if not isinstance(includes.get(flag, False), bool):
            raise _invalid(f'"{flag}" must be a boolean')
    return {
        "include_cell_values": cell_values,
        "include_previous_values": includes.get("includePreviousCellValues", False),
    }


def parse_specification(specification: Any) -> HookSpec:
    """Validate a create request's ``specification`` like Airtable does (422 on anything malformed)."""
    spec = _object(specification, "specification", frozenset({"options"}))
    options = _object(spec.get("options"), "specification.options", OPTIONS_KEYS)
    filters = _object(options.get("filters"), "specification.options.filters", FILTER_KEYS)
    includes = _object(options.get("includes", {}), "specification.options.includes", INCLUDES_KEYS)
    return HookSpec(**_parse_filters(filters), **_parse_includes(includes))


# ---------------------------------------------------------------------------------------------------------------
# V1 (record read) → V2 (webhook payload) cell values, API.md §1.4


class CellConverter:
    """Converts one base's V1 cells to V2, reading schemas and linked records from the store.

    Made fresh per transaction: the schema cache then sees choices that ``typecast`` just added.
    """

    def __init__(self, store: Any, base_id: str):
        self._store = store
        self._base_id = base_id
        self._fields_by_table: dict[str, dict[str, dict[str, Any]]] = {}

    def cells(self, table_id: str, cells: Cells, record_cells: Cells) -> dict[str, Any]:
        """``record_cells``: the record's full V1 state at the same moment (lookups need its links)."""
        return {field_id: self.value(table_id, field_id, value, record_cells) for field_id, value in cells.items()}

    def value(self, table_id: str, field_id: str, value: Any, record_cells: Cells, *, nested: bool = False) -> Any:
        if value is None:
            return None
        schema = self._field(table_id, field_id)
        if schema is None:
            return value
        field_type = schema.get("type")
        if field_type in ("singleSelect", "externalSyncSource"):
            return self._choice(schema, value)
        if field_type in ("singleCollaborator", "createdBy", "lastModifiedBy"):
            return _collaborator(value)
        if not isinstance(value, list):  # every type below is a list in V1; anything else passes through untouched
            return value
        if field_type == "multipleSelects":
            return [self._choice(schema, name) for name in value]
        if field_type == "multipleRecordLinks":
            return self._links(schema, value)
        if field_type == "multipleCollaborators":
            return [_collaborator(item) for item in value]
        if field_type == "multipleLookupValues" and not nested:
            return self._lookup(table_id, schema, value, record_cells)
        return value

    def _field(self, table_id: str, field_id: str) -> dict[str, Any] | None:
        if table_id not in self._fields_by_table:
            schema = _table_schema(self._store, self._base_id, table_id)
            self._fields_by_table[table_id] = {f["id"]: f for f in (schema or {}).get("fields", [])}
        return self._fields_by_table[table_id].get(field_id)

    @staticmethod
    def _choice(schema: dict[str, Any], value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for choice in (schema.get("options") or {}).get("choices", []):
            if choice.get("name") == value:
                return {key: choice[key] for key in ("id", "name", "color") if key in choice}
        return {"name": value}  # a choice the schema no longer knows: keep the name rather than lose the value

    def _links(self, schema: dict[str, Any], record_ids: list[str]) -> list[dict[str, Any]]:
        linked_table = (schema.get("options") or {}).get("linkedTableId")
        return [{"id": record_id, "name": self._record_name(linked_table, record_id)} for record_id in record_ids]

    def _record_name(self, table_id: str | None, record_id: str) -> str:
        try:
            name = self._store.primary_value(self._base_id, table_id, record_id) if table_id else None
        except (ApiError, KeyError, LookupError):
            name = None  # the linked record was destroyed in the same transaction
        return "" if name is None else name if isinstance(name, str) else json.dumps(name)

    def _lookup(self, table_id: str, schema: dict[str, Any], value: list[Any], record_cells: Cells) -> Any:
        """Regroup by linked record: V1 flattens the looked-up values, V2 keeps them per linked record.

        The values come from the store's current state of the linked records (what they hold now).
        """
        options = schema.get("options") or {}
        link_field = self._field(table_id, options.get("recordLinkFieldId", ""))
        linked_table = ((link_field or {}).get("options") or {}).get("linkedTableId")
        if link_field is None or linked_table is None:
            return value  # a broken lookup reads as [{"error": "#ERROR!"}]: keep the error visible
        looked_up_field = options.get("fieldIdInLinkedTable", "")
        linked_ids = list(record_cells.get(link_field["id"]) or [])
        values = {record_id: self._looked_up(linked_table, looked_up_field, record_id) for record_id in linked_ids}
        return {"valuesByLinkedRecordId": values, "linkedRecordIds": linked_ids}

    def _looked_up(self, table_id: str, field_id: str, record_id: str) -> list[Any]:
        record = _read_record(self._store, self._base_id, table_id, record_id)
        if record is None:
            return []
        linked_cells = record.get("fields", {})
        value = self.value(table_id, field_id, linked_cells.get(field_id), linked_cells, nested=True)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


def _collaborator(value: Any) -> Any:
    if isinstance(value, dict) and "permissionLevel" not in value:
        return {**value, "permissionLevel": DEFAULT_PERMISSION_LEVEL}
    return value


def _table_schema(store: Any, base_id: str, table_id: str) -> dict[str, Any] | None:
    try:
        return store.table_schema(base_id, table_id)
    except (ApiError, KeyError, LookupError):
        return None


def _read_record(store: Any, base_id: str, table_id: str, record_id: str) -> dict[str, Any] | None:
    try:
        return store.read_record(base_id, table_id, record_id)
    except (ApiError, KeyError, LookupError):
        return None


# ---------------------------------------------------------------------------------------------------------------
# Payloads


class ConvertedTransaction:
    """A transaction's cells in V2, converted at most once however many hooks want them."""

    def __init__(self, tx: Transaction, converter: CellConverter):
        self.tx = tx
        self._converter = converter
        self._cache: dict[tuple[str, str, str], dict[str, Any]] = {}

    def created(self, table_id: str, record: CreatedRecord) -> dict[str, Any]:
        return self._memo(
            ("created", table_id, record.record_id), lambda: self._converter.cells(table_id, record.cells, record.cells)
        )

    def current(self, table_id: str, record: ChangedRecord) -> dict[str, Any]:
        state = {**record.unchanged, **record.current}
        return self._memo(
            ("current", table_id, record.record_id), lambda: self._converter.cells(table_id, record.current, state)
        )

    def previous(self, table_id: str, record: ChangedRecord) -> dict[str, Any]:
        state = {**record.unchanged, **record.previous}
        return self._memo(
            ("previous", table_id, record.record_id), lambda: self._converter.cells(table_id, record.previous, state)
        )

    def unchanged(self, table_id: str, record: ChangedRecord) -> dict[str, Any]:
        state = {**record.unchanged, **record.current}
        return self._memo(
            ("unchanged", table_id, record.record_id), lambda: self._converter.cells(table_id, record.unchanged, state)
        )

    def _memo(self, key: tuple[str, str, str], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


# One record's entry in a payload: (table id, "createdRecordsById" | "changedRecordsById" | "destroyedRecordIds",
# record id, the entry's value — None for a destroyed record).
PayloadEntry = tuple[str, str, str, Any]


def build_payloads(spec: HookSpec, converted: ConvertedTransaction) -> list[dict[str, Any]]:
    """What one hook records for one transaction: nothing, one payload, or several for a big transaction."""
    tx = converted.tx
    if not spec.wants(tx):
        return []
    entries = [
        entry
        for table in tx.tables
        if spec.wants_table(table.table_id)
        for entry in _table_entries(spec, table, converted)
    ]
    return [_payload(tx, chunk) for chunk in _chunks(entries, MAX_RECORDS_PER_PAYLOAD)]


def _table_entries(spec: HookSpec, table: TableChanges, converted: ConvertedTransaction) -> Iterator[PayloadEntry]:
    table_id = table.table_id
    if spec.wants_change_type("add"):
        for created in table.created:
            cells = converted.created(table_id, created)
            yield (
                table_id,
                "createdRecordsById",
                created.record_id,
                {"createdTime": created.created_time, "cellValuesByFieldId": cells},
            )
    if spec.wants_change_type("update"):
        for changed in table.changed:
            if spec.watches(changed.current):
                entry = _changed_entry(spec, table_id, changed, converted)
                yield table_id, "changedRecordsById", changed.record_id, entry
    if spec.wants_change_type("remove"):
        for record_id in table.destroyed:
            yield table_id, "destroyedRecordIds", record_id, None


def _changed_entry(
    spec: HookSpec, table_id: str, record: ChangedRecord, converted: ConvertedTransaction
) -> dict[str, Any]:
    entry: dict[str, Any] = {"current": {"cellValuesByFieldId": converted.current(table_id, record)}}
    if spec.include_previous_values:
        entry["previous"] = {"cellValuesByFieldId": converted.previous(table_id, record)}
    unchanged = {
        field_id: value
        for field_id, value in converted.unchanged(table_id, record).items()
        if spec.includes_unchanged(field_id)
    }
    if unchanged:
        entry["unchanged"] = {"cellValuesByFieldId": unchanged}
    return entry


def _chunks(entries: list[PayloadEntry], size: int) -> Iterator[list[PayloadEntry]]:
    for start in range(0, len(entries), size):
        yield entries[start : start + size]


def _payload(tx: Transaction, entries: list[PayloadEntry]) -> dict[str, Any]:
    tables: dict[str, dict[str, Any]] = {}
    for table_id, kind, record_id, value in entries:
        table = tables.setdefault(table_id, {})
        if kind == "destroyedRecordIds":
            table.setdefault(kind, []).append(record_id)
        else:
            table.setdefault(kind, {})[record_id] = value
    return {
        "timestamp": tx.timestamp,
        "baseTransactionNumber": tx.base_transaction_number,
        "actionMetadata": action_metadata(tx),
        "payloadFormat": "v0",
        "changedTablesById": tables,
    }


def action_metadata(tx: Transaction) -> dict[str, Any]:
    metadata: dict[str, Any] = {"source": tx.source}
    if tx.source in SOURCES_WITH_USER and tx.user is not None:
        metadata["sourceMetadata"] = {"user": dict(tx.user)}
    return metadata


# ---------------------------------------------------------------------------------------------------------------
# Hooks and their state


@dataclass
class StoredPayload:
    number: int
    created_at: float
    body: dict[str, Any]


@dataclass
class PingState:
    """One coalesced notification for a hook: pending, in flight, or waiting for its next retry."""

    due_at: float | None = None  # None: nothing to send
    retry_number: int = 0
    timestamp: str = ""
    in_flight: bool = False
    requested_during_flight: bool = False


@dataclass
class Hook:
    id: str
    base_id: str
    secret: bytes
    notification_url: str | None
    specification: dict[str, Any]
    spec: HookSpec
    expiration_time: float
    notifications_enabled: bool
    next_payload_number: int = 1
    payloads: deque[StoredPayload] = field(default_factory=deque)
    last_notification_result: dict[str, Any] | None = None
    last_successful_notification_time: str | None = None
    ping: PingState = field(default_factory=PingState)

    def is_active(self, now: float) -> bool:
        return now < self.expiration_time

    def add_payload(self, body: dict[str, Any], now: float) -> None:
        self.payloads.append(StoredPayload(self.next_payload_number, now, body))
        self.next_payload_number += 1

    def drop_old_payloads(self, now: float) -> None:
        while self.payloads and self.payloads[0].created_at <= now - PAYLOAD_RETENTION_SECONDS:
            self.payloads.popleft()

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "areNotificationsEnabled": self.notifications_enabled,
            "cursorForNextPayload": self.next_payload_number,
            "expirationTime": iso_millis(self.expiration_time),
            "isHookEnabled": self.is_active(now),
            "lastNotificationResult": self.last_notification_result,
            "lastSuccessfulNotificationTime": self.last_successful_notification_time,
            "notificationUrl": self.notification_url,
            "specification": self.specification,
        }

    def page(self, cursor: int, limit: int) -> dict[str, Any]:
        """List payloads from ``cursor`` (API.md §6.5): the response cursor follows the last one returned."""
        selected = [payload for payload in self.payloads if payload.number >= cursor][:limit]
        next_cursor = selected[-1].number + 1 if selected else cursor
        return {
            "cursor": next_cursor,
            "mightHaveMore": bool(self.payloads) and self.payloads[-1].number >= next_cursor,
            "payloads": [payload.body for payload in selected],
        }


@dataclass(frozen=True)
class PingJob:
    hook: Hook
    url: str
    body: bytes
    signature: str
    retry_number: int


@dataclass(frozen=True)
class DeliveryResult:
    success: bool
    duration_ms: float
    error: str | None = None


def notification_body(base_id: str, webhook_id: str, timestamp: str) -> bytes:
    """The ping exactly as Airtable sends it: compact JSON, no change data."""
    body = {"base": {"id": base_id}, "webhook": {"id": webhook_id}, "timestamp": timestamp}
    return json.dumps(body, separators=(",", ":")).encode("ascii")


def content_mac(secret: bytes, body: bytes) -> str:
    """``X-Airtable-Content-MAC``: HMAC-SHA256 of the raw body, keyed by the decoded secret."""
    return "hmac-sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The service


class WebhookService:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        *,
        notification_retry_base_seconds: float = 10.0,
        drop_notification_ratio: float = 0.0,
        max_notification_retries: int = 13,
        notification_timeout_seconds: float = 25.0,
    ):
        self._store = store
        self._clock = clock
        self._retry_base = notification_retry_base_seconds
        self._drop_ratio = _checked_ratio(drop_notification_ratio)
        self._max_retries = max_notification_retries
        self._timeout = notification_timeout_seconds
        self._random = random.Random()
        # One lock for hooks, payloads and ping state; the delivery thread waits on it for work.
        self._cond = threading.Condition()
        self._hooks: dict[str, dict[str, Hook]] = {}  # base id -> hook id -> hook (insertion = creation order)
        self._stopped = False
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._deliver_forever, name="sandbox-webhook-pings", daemon=True)
        self._thread.start()

    # -- wiring -------------------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        hooks = "v0/bases/:base_id/webhooks"
        return [
            Route("POST", hooks, self._create),
            Route("GET", hooks, self._list),
            Route("DELETE", f"{hooks}/:webhook_id", self._delete),
            Route("POST", f"{hooks}/:webhook_id/refresh", self._refresh),
            Route("POST", f"{hooks}/:webhook_id/enableNotifications", self._enable_notifications),
            Route("GET", f"{hooks}/:webhook_id/payloads", self._list_payloads),
        ]

    def on_transaction(self, tx: Transaction) -> None:
        now = self._clock.time()
        with self._cond:
            self._expire(now)
            hooks = [
                hook for hook in self._hooks.get(tx.base_id, {}).values() if hook.is_active(now) and hook.spec.wants(tx)
            ]
        if not hooks:
            return
        # Conversion reads the store, so it runs outside our lock: the store may call us while holding its own.
        converted = ConvertedTransaction(tx, CellConverter(self._store, tx.base_id))
        built = [(hook, build_payloads(hook.spec, converted)) for hook in hooks]
        with self._cond:
            for hook, payloads in built:
                if payloads and self._hooks.get(tx.base_id, {}).get(hook.id) is hook:
                    for body in payloads:
                        hook.add_payload(body, now)
                    self._request_ping(hook, now)

    @property
    def drop_notification_ratio(self) -> float:
        """Share of notification pings silently dropped (0 = none, 1 = all)."""
        with self._cond:
            return self._drop_ratio

    def set_drop_notification_ratio(self, ratio: float) -> None:
        """Change the share of dropped pings at runtime; raises ``ValueError`` outside 0–1.

        Applies to pings requested from now on: a ping already pending or in flight is still sent.
        """
        checked = _checked_ratio(ratio)
        with self._cond:
            self._drop_ratio = checked

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        # A ping in flight may hold the thread for up to the delivery timeout; it is a daemon, so don't wait that long.
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._session.close()

    # -- routes ---------------------------------------------------------------------------------------------------

    def _create(self, request: Request, params: dict[str, str]) -> Response:
        base_id = params["base_id"]
        table_ids = self._require_base(base_id)
        body = _object(request.json(), "body", BODY_KEYS)
        url = body.get("notificationUrl")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise _invalid('"notificationUrl" must be an http(s) URL')
        spec = parse_specification(body.get("specification"))
        self._check_scope(base_id, table_ids, spec)
        now = self._clock.time()
        secret = secrets.token_bytes(32)
        with self._cond:
            self._expire(now)
            base_hooks = self._hooks.setdefault(base_id, {})
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

    def _list(self, request: Request, params: dict[str, str]) -> Response:
        self._require_base(params["base_id"])
        now = self._clock.time()
        with self._cond:
            self._expire(now)
            hooks = list(self._hooks.get(params["base_id"], {}).values())
            return Response(200, {"webhooks": [hook.describe(now) for hook in hooks]})

    def _delete(self, request: Request, params: dict[str, str]) -> Response:
        self._require_base(params["base_id"])
        with self._cond:
            hook = self._find(params)
            del self._hooks[hook.base_id][hook.id]
            hook.ping = PingState()
        return Response(200, {})

    def _refresh(self, request: Request, params: dict[str, str]) -> Response:
        self._require_base(params["base_id"])
        now = self._clock.time()
        with self._cond:
            hook = self._find(params)
            if not hook.is_active(now):
                # Airtable: "only applies to active webhooks"; the error type is undocumented (sandbox choice).
                raise ApiError(
                    422,
                    "CANNOT_REFRESH_DISABLED_WEBHOOK",
                    "Only active webhooks can be refreshed; create a new webhook",
                )
            hook.expiration_time = now + WEBHOOK_LIFETIME_SECONDS
            return Response(200, {"expirationTime": iso_millis(hook.expiration_time)})

    def _enable_notifications(self, request: Request, params: dict[str, str]) -> Response:
        self._require_base(params["base_id"])
        body = request.json()
        enable = body.get("enable") if isinstance(body, dict) else None
        if not isinstance(enable, bool):
            raise _invalid('"enable" must be a boolean')
        with self._cond:
            hook = self._find(params)
            hook.notifications_enabled = enable
            if not enable:
                hook.ping = PingState(in_flight=hook.ping.in_flight)
        return Response(200, {})

    def _list_payloads(self, request: Request, params: dict[str, str]) -> Response:
        self._require_base(params["base_id"])
        cursor = _positive_int(request.first("cursor"), "cursor", default=1)
        # Airtable caps a page at 50; a larger limit is capped rather than refused (sandbox choice).
        limit = min(
            _positive_int(request.first("limit"), "limit", default=MAX_PAYLOADS_PER_PAGE), MAX_PAYLOADS_PER_PAGE
        )
        now = self._clock.time()
        with self._cond:
            hook = self._find(params)
            if hook.is_active(now):
                hook.expiration_time = now + WEBHOOK_LIFETIME_SECONDS
            return Response(200, hook.page(cursor, limit))

    # -- route helpers --------------------------------------------------------------------------------------------

    def _require_base(self, base_id: str) -> list[str]:
        """The base's table ids; an unknown base answers like the meta API does (403)."""
        table_ids = _base_table_ids(self._store, base_id)
        if table_ids is None:
            raise ApiError(
                403,
                "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                "Invalid permissions, or the requested model was not found. Check that both your user "
                "and your token have the required permissions, and that the model names and/or ids are "
                "correct.",
            )
        return table_ids

    def _check_scope(self, base_id: str, table_ids: list[str], spec: HookSpec) -> None:
        scope = spec.record_change_scope
        if scope is not None and scope not in table_ids:
            raise _invalid(f'"recordChangeScope" {scope} is not a table of base {base_id}')
        tables = [scope] if scope else table_ids
        known_fields = {
            f["id"]
            for table_id in tables
            for f in (_table_schema(self._store, base_id, table_id) or {}).get("fields", [])
        }
        if unknown := sorted(spec.watched_field_ids - known_fields):
            raise _invalid(f'"watchDataInFieldIds" has unknown field ids {unknown}')

    def _find(self, params: dict[str, str]) -> Hook:
        """Caller holds the lock."""
        self._expire(self._clock.time())
        hook = self._hooks.get(params["base_id"], {}).get(params["webhook_id"])
        if hook is None:
            raise _webhook_not_found()
        return hook

    def _expire(self, now: float) -> None:
        """Drop payloads past retention and hooks expired for longer than their grace period. Caller holds the lock."""
        for base_hooks in self._hooks.values():
            for hook_id, hook in list(base_hooks.items()):
                hook.drop_old_payloads(now)
                if now >= hook.expiration_time + EXPIRED_HOOK_RETENTION_SECONDS:
                    del base_hooks[hook_id]
                    hook.ping = PingState()

    # -- notifications --------------------------------------------------------------------------------------------

    def _request_ping(self, hook: Hook, now: float) -> None:
        """Caller holds the lock. Coalesces: a hook has at most one ping pending and one in flight."""
        if not (hook.notifications_enabled and hook.notification_url):
            return
        ping = hook.ping
        if ping.in_flight:
            ping.requested_during_flight = True
        elif ping.due_at is None:
            if self._random.random() < self._drop_ratio:
                return  # simulated lost ping: the payload exists, the receiver must catch up by listing
            hook.ping = PingState(due_at=now, timestamp=iso_millis(now))
            self._cond.notify_all()

    def _deliver_forever(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = self._clock.time()
                job = self._take_due_job(now)
                if job is None:
                    self._cond.wait(self._idle_wait(now))
                    continue
            result = self._deliver(job)
            with self._cond:
                self._record_result(job, result)

    def _idle_wait(self, now: float) -> float:
        """Sleep until the next retry is due, but re-read the clock often: tests move it forward."""
        due = [
            hook.ping.due_at
            for base_hooks in self._hooks.values()
            for hook in base_hooks.values()
            if hook.ping.due_at is not None and not hook.ping.in_flight
        ]
        return max(0.0, min([DISPATCH_POLL_SECONDS, *(when - now for when in due)]))

    def _take_due_job(self, now: float) -> PingJob | None:
        for base_hooks in self._hooks.values():
            for hook in base_hooks.values():
                ping = hook.ping
                if ping.due_at is not None and ping.due_at <= now and not ping.in_flight and hook.notification_url:
                    ping.in_flight = True
                    body = notification_body(hook.base_id, hook.id, ping.timestamp)
                    return PingJob(hook, hook.notification_url, body, content_mac(hook.secret, body), ping.retry_number)
        return None

    def _deliver(self, job: PingJob) -> DeliveryResult:
        started = time.monotonic()
        headers = {"Content-Type": "application/json", "X-Airtable-Content-MAC": job.signature}
        try:
            response = self._session.post(
                job.url, data=job.body, headers=headers, timeout=self._timeout, allow_redirects=False
            )
            status: int | None = response.status_code
            response.close()
            error = None
        except requests.Timeout:
            status, error = None, f"The HTTP request timed out after {self._timeout:g} seconds"
        except requests.RequestException as exc:
            status, error = None, f"The HTTP request failed: {type(exc).__name__}"
        duration_ms = (time.monotonic() - started) * 1000
        if error is None and duration_ms > self._timeout * 1000:
            error = f"The HTTP request timed out after {self._timeout:g} seconds"
        elif error is None and status not in (200, 204):
            error = f"The HTTP request returned a {status} status code instead of 200 or 204"
        return DeliveryResult(success=error is None, duration_ms=round(duration_ms, 3), error=error)

    def _record_result(self, job: PingJob, result: DeliveryResult) -> None:
        """Caller holds the lock."""
        hook, ping = job.hook, job.hook.ping
        completed = iso_millis(self._clock.time())
        still_wanted = ping.in_flight and hook.notifications_enabled and self._is_registered(hook)
        ping.in_flight = False
        if result.success:
            hook.last_notification_result = {
                "success": True,
                "completionTimestamp": completed,
                "durationMs": result.duration_ms,
                "retryNumber": job.retry_number,
            }
            hook.last_successful_notification_time = completed
            hook.ping = PingState()
            if still_wanted and ping.requested_during_flight:
                self._request_ping(hook, self._clock.time())
            return
        will_retry = still_wanted and job.retry_number < self._max_retries
        hook.last_notification_result = {
            "success": False,
            "error": {"message": result.error},
            "completionTimestamp": completed,
            "durationMs": result.duration_ms,
            "retryNumber": job.retry_number,
            "willBeRetried": will_retry,
        }
        if will_retry:
            delay = self._retry_base * 2**job.retry_number
            hook.ping = PingState(
                due_at=self._clock.time() + delay, retry_number=job.retry_number + 1, timestamp=ping.timestamp
            )
            return
        hook.ping = PingState()
        if still_wanted:
            log.info("webhook %s: notification retries exhausted, disabling notifications", hook.id)
            hook.notifications_enabled = False

    def _is_registered(self, hook: Hook) -> bool:
        return self._hooks.get(hook.base_id, {}).get(hook.id) is hook


def _checked_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ValueError(f"drop_notification_ratio must be a number between 0 and 1, got {ratio!r}")
    return float(ratio)


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
