"""The metadata API: list bases, a base's schema, whoami, and Airtable's schema writes (API.md §5).

Schema writes (create a table, update a table, create a field, update a field) are made by the token's
user (source ``publicApi``), so webhooks report them as Airtable does. As on Airtable, a field's type and
options cannot change through this API (the admin routes can).

Schemas are served from the store in the metadata-API format; the store keeps private keys such as a
rollup's ``"_sandbox": {"rollup": "SUM"}`` on fields, which are stripped here (any key starting with
``_``, at every level). ``visibleFieldIds`` on grid views appear only with ``include=visibleFieldIds``,
as on Airtable (pyairtable's ``Base.schema()`` always asks for them).
"""

from __future__ import annotations

from typing import Any

from airtable_sandbox.http import INVALID_REQUEST, ApiError, Request, Response, Route, unprocessable
from airtable_sandbox.store import API_ACTOR, API_USER, NOT_FOUND_MESSAGE, Store

TABLES = "v0/meta/bases/:base_id/tables"
NEW_FIELD_KEYS = frozenset({"name", "type", "description", "options"})
NEW_TABLE_KEYS = frozenset({"name", "description", "fields"})
RENAME_KEYS = frozenset({"name", "description"})


def public(value: Any) -> Any:
    """``value`` without private (``_``-prefixed) keys, recursively."""
    if isinstance(value, dict):
        return {key: public(item) for key, item in value.items() if not key.startswith("_")}
    if isinstance(value, list):
        return [public(item) for item in value]
    return value


def _view(view: dict[str, Any], field_ids: list[str], include_visible: bool) -> dict[str, Any]:
    shaped = {key: view[key] for key in ("id", "name", "type", "personalForUserId") if key in view}
    if include_visible and view.get("type") == "grid":
        shaped["visibleFieldIds"] = list(view.get("visibleFieldIds") or field_ids)
    return shaped


def table_metadata(table: dict[str, Any], *, include_visible: bool = False) -> dict[str, Any]:
    """One table as ``GET /v0/meta/bases/{baseId}/tables`` shows it."""
    shaped = public(table)
    field_ids = [f["id"] for f in shaped["fields"]]
    shaped["views"] = [_view(view, field_ids, include_visible) for view in shaped.get("views", [])]
    return shaped


class MetaApi:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [
            Route("GET", "v0/meta/bases", self._bases),
            Route("GET", "v0/meta/bases/:base_id/tables", self._tables),
            Route("GET", "v0/meta/whoami", self._whoami),
            Route("POST", TABLES, self._create_table),
            Route("PATCH", f"{TABLES}/:table", self._update_table),
            Route("POST", f"{TABLES}/:table/fields", self._create_field),
            Route("PATCH", f"{TABLES}/:table/fields/:field_id", self._update_field),
        ]

    def _bases(self, request: Request, params: dict[str, str]) -> Response:
        bases = [
            {"id": base_id, "name": self._store.base_name(base_id), "permissionLevel": "create"}
            for base_id in self._store.base_ids()
        ]
        return Response(200, {"bases": bases})

    def _tables(self, request: Request, params: dict[str, str]) -> Response:
        base_id = self._known_base(params)
        include_visible = "visibleFieldIds" in request.query.get("include", []) + request.query.get("include[]", [])
        tables = [table_metadata(t, include_visible=include_visible) for t in self._store.base_tables(base_id)]
        return Response(200, {"tables": tables})

    def _whoami(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, {"id": API_USER["id"]})

    def _create_table(self, request: Request, params: dict[str, str]) -> Response:
        body = _body(request, NEW_TABLE_KEYS)
        fields = body.get("fields")
        if isinstance(fields, list):
            for field in fields:
                _check_keys(field, NEW_FIELD_KEYS)
        table = self._store.create_table(self._known_base(params), body, actor=API_ACTOR)
        return Response(200, table_metadata(table))

    def _update_table(self, request: Request, params: dict[str, str]) -> Response:
        body = _body(request, RENAME_KEYS)
        table = self._store.update_table(self._known_base(params), params["table"], body, actor=API_ACTOR)
        return Response(200, table_metadata(table))

    def _create_field(self, request: Request, params: dict[str, str]) -> Response:
        body = _body(request, NEW_FIELD_KEYS)
        field = self._store.add_field(self._known_base(params), params["table"], body, actor=API_ACTOR)
        return Response(200, public(field))

    def _update_field(self, request: Request, params: dict[str, str]) -> Response:
        body = _body(request, RENAME_KEYS)
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", '"name" must be a non-empty string')
        base_id = self._known_base(params)
        field = self._store.update_field(base_id, params["table"], params["field_id"], body, actor=API_ACTOR)
        return Response(200, public(field))

    def _known_base(self, params: dict[str, str]) -> str:
        base_id = params["base_id"]
        if not self._store.has_base(base_id):
            # The metadata API answers an unknown base with 403, unlike the records API's 404.
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
        return base_id


def _body(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    body = request.json()
    _check_keys(body, allowed)
    if not body:
        raise INVALID_REQUEST
    return body


def _check_keys(value: Any, allowed: frozenset[str]) -> None:
    if not isinstance(value, dict):
        raise INVALID_REQUEST
    if unknown := sorted(set(value) - allowed):
        raise unprocessable("INVALID_REQUEST_UNKNOWN", f"Invalid request: unknown keys {unknown}")
