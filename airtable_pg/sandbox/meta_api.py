"""The metadata API: list bases, a base's schema, and whoami (API.md §5).

Schemas are served from the store in the metadata-API format; the store keeps private keys such as a
rollup's ``"_sandbox": {"rollup": "SUM"}`` on fields, which are stripped here (any key starting with
``_``, at every level). ``visibleFieldIds`` on grid views appear only with ``include=visibleFieldIds``,
as on Airtable (pyairtable's ``Base.schema()`` always asks for them).
"""

from __future__ import annotations

from typing import Any

from airtable_pg.sandbox.http import ApiError, Request, Response, Route
from airtable_pg.sandbox.store import API_USER, NOT_FOUND_MESSAGE, Store


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
        ]

    def _bases(self, request: Request, params: dict[str, str]) -> Response:
        bases = [
            {"id": base_id, "name": self._store.base_name(base_id), "permissionLevel": "create"}
            for base_id in self._store.base_ids()
        ]
        return Response(200, {"bases": bases})

    def _tables(self, request: Request, params: dict[str, str]) -> Response:
        base_id = params["base_id"]
        if not self._store.has_base(base_id):
            # The metadata API answers an unknown base with 403, unlike the records API's 404.
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
        include_visible = "visibleFieldIds" in request.query.get("include", []) + request.query.get("include[]", [])
        tables = [table_metadata(t, include_visible=include_visible) for t in self._store.base_tables(base_id)]
        return Response(200, {"tables": tables})

    def _whoami(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, {"id": API_USER["id"]})
