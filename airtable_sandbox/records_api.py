"""The records API (``/v0/{baseId}/{tableIdOrName}…``) as pyairtable 3.x speaks it.

List (GET, and POST ``…/listRecords`` for long formulas), get one, create, update (PATCH) and replace
(PUT), upsert (``performUpsert``), delete — single and batch. Parameters are parsed exactly as
pyairtable sends them: ``fields[]``, ``sort[0][field]``/``sort[0][direction]`` (keys arrive sorted as
text, so the index is parsed as a number), ``returnFieldsByFieldId=1``, ``recordMetadata[]``,
``records[]`` for batch deletes; JSON bodies for writes and for POST listRecords. Validation of cells
and all record bookkeeping live in the store; this module only translates HTTP to store calls and
store records to Airtable's response shapes (names or field ids, ``cellFormat=string``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airtable_sandbox.http import INVALID_REQUEST, Request, Response, Route, unprocessable
from airtable_sandbox.store import API_ACTOR, Store

MAX_PAGE_SIZE = 100
MAX_RECORDS_PER_WRITE = 10
_SORT_KEY = re.compile(r"^sort\[(\d+)\]\[(field|direction)\]$")
_TRUE_TEXT = frozenset({"1", "true", "True"})

WRITE_RECORDS_MESSAGE = (
    'You must provide an array of up to 10 record objects, each with an "id" ID field and a "fields" object '
    "for cell values."
)
CREATE_RECORDS_MESSAGE = (
    'You must provide an array of up to 10 record objects, each with a "fields" object for cell values.'
)


@dataclass
class ListOptions:
    """list-records parameters, whichever way (query string or JSON body) they arrived."""

    page_size: int = MAX_PAGE_SIZE
    max_records: int | None = None
    offset: str | None = None
    view: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=list)
    formula: str | None = None
    fields: list[str] | None = None
    cell_format: str = "json"
    time_zone: str | None = None
    user_locale: str | None = None
    by_field_id: bool = False
    comment_count: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> ListOptions:
        def first(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        sort_parts: dict[int, dict[str, str]] = {}
        for key, values in query.items():
            match = _SORT_KEY.match(key)
            if match:
                sort_parts.setdefault(int(match.group(1)), {})[match.group(2)] = values[0]
        fields = query.get("fields[]", query.get("fields"))
        return cls._build(
            page_size=first("pageSize"),
            max_records=first("maxRecords"),
            offset=first("offset"),
            view=first("view"),
            sort=[sort_parts[index] for index in sorted(sort_parts)],
            formula=first("filterByFormula"),
            fields=list(fields) if fields is not None else None,
            cell_format=first("cellFormat"),
            time_zone=first("timeZone"),
            user_locale=first("userLocale"),
            by_field_id=(first("returnFieldsByFieldId") or "") in _TRUE_TEXT,
            metadata=query.get("recordMetadata[]", query.get("recordMetadata", [])),
        )

    @classmethod
    def from_body(cls, body: Any, query: Mapping[str, list[str]]) -> ListOptions:
        if not isinstance(body, dict):
            raise INVALID_REQUEST
        sort = body.get("sort") or []
        fields = body.get("fields")
        if not isinstance(sort, list) or (fields is not None and not isinstance(fields, list)):
            raise INVALID_REQUEST

        def text(name: str) -> str | None:
            value = body.get(name)
            return None if value is None else str(value)

        query_first = {name: values[0] for name, values in query.items() if values}
        return cls._build(
            page_size=body.get("pageSize"),
            max_records=body.get("maxRecords"),
            offset=text("offset"),
            view=text("view"),
            sort=sort,
            formula=text("filterByFormula"),
            fields=fields,
            cell_format=text("cellFormat"),
            time_zone=text("timeZone") or query_first.get("timeZone"),
            user_locale=text("userLocale") or query_first.get("userLocale"),
            by_field_id=body.get("returnFieldsByFieldId") is True,
            metadata=body.get("recordMetadata") or [],
        )

    @classmethod
    def _build(
        cls,
        *,
        page_size: Any,
        max_records: Any,
        sort: list[Any],
        metadata: Any,
        cell_format: str | None,
        **plain: Any,
    ) -> ListOptions:
        options = cls(
            page_size=_page_size(page_size),
            max_records=_max_records(max_records),
            sort=[_sort_entry(entry) for entry in sort],
            comment_count=_comment_count(metadata),
            cell_format=cell_format or "json",
            **plain,
        )
        if options.cell_format not in ("json", "string"):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", f'Invalid cellFormat "{options.cell_format}"')
        if options.cell_format == "string" and not (options.time_zone and options.user_locale):
            raise unprocessable(
                "INVALID_REQUEST_UNKNOWN",
                "The timeZone and userLocale parameters are required when using string as the cellFormat",
            )
        return options


def _page_size(value: Any) -> int:
    if value is None:
        return MAX_PAGE_SIZE
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE or isinstance(value, bool):
        raise unprocessable(
            "INVALID_PAGE_SIZE_ARGUMENT", f"The pageSize parameter must be between 1 and {MAX_PAGE_SIZE}"
        )
    return size


def _max_records(value: Any) -> int | None:
    if value is None:
        return None
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise INVALID_REQUEST from None
    if count < 1:
        raise INVALID_REQUEST
    return count


def _sort_entry(entry: Any) -> tuple[str, str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
        raise unprocessable("INVALID_SORT_PARAMS", "Each sort object must have a field")
    direction = entry.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise unprocessable("INVALID_SORT_PARAMS", f'Invalid sort direction "{direction}"')
    return entry["field"], direction


def _comment_count(metadata: Any) -> bool:
    if not isinstance(metadata, list) or any(item != "commentCount" for item in metadata):
        raise unprocessable("INVALID_REQUEST_UNKNOWN", 'recordMetadata only supports "commentCount"')
    return bool(metadata)


class RecordFormatter:
    """Store records (keyed by field id, JSON values) → the shape the request asked for."""

    def __init__(
        self,
        store: Store,
        base_id: str,
        table: Mapping[str, Any],
        *,
        by_field_id: bool,
        cell_format: str = "json",
        comment_count: bool = False,
    ) -> None:
        self._store = store
        self._base_id = base_id
        self._fields = {f["id"]: f for f in table["fields"]}
        self._by_field_id = by_field_id
        self._as_string = cell_format == "string"
        self._comment_count = comment_count

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        fields = {}
        for field_id, value in record["fields"].items():
            field_schema = self._fields.get(field_id)
            if field_schema is None:
                continue
            key = field_id if self._by_field_id else field_schema["name"]
            if field_schema["type"] == "multipleAttachments" and self._store.attachments is not None:
                value = self._store.attachments.sign_cell(value)  # URLs valid ~2 h from this read, as Airtable's
            fields[key] = self._string(field_schema, value) if self._as_string else value
        shaped: dict[str, Any] = {"id": record["id"], "createdTime": record["createdTime"], "fields": fields}
        if self._comment_count:
            shaped["commentCount"] = 0  # the sandbox has no comments
        return shaped

    def _string(self, field_schema: Mapping[str, Any], value: Any) -> str:
        if field_schema["type"] == "multipleRecordLinks":
            linked_table = (field_schema.get("options") or {}).get("linkedTableId", "")
            names = (self._store.primary_value(self._base_id, linked_table, record_id) for record_id in value)
            return ", ".join(_text(name) for name in names)
        return _text(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        for key in ("name", "filename", "text", "email", "error", "specialValue", "label"):
            if key in value:
                return str(value[key])
        return str(value)
    if value is True:
        return "checked"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RecordsApi:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [
            Route("POST", "v0/:base_id/:table/listRecords", self._list_by_post),
            Route("GET", "v0/:base_id/:table", self._list_by_get),
            Route("POST", "v0/:base_id/:table", self._create),
            Route("PATCH", "v0/:base_id/:table", self._update_many),
            Route("PUT", "v0/:base_id/:table", self._replace_many),
            Route("DELETE", "v0/:base_id/:table", self._delete_many),
            Route("GET", "v0/:base_id/:table/:record_id", self._get),
            Route("PATCH", "v0/:base_id/:table/:record_id", self._update_one),
            Route("PUT", "v0/:base_id/:table/:record_id", self._replace_one),
            Route("DELETE", "v0/:base_id/:table/:record_id", self._delete_one),
        ]

    # -- reads -----------------------------------------------------------------------------------------

    def _list_by_get(self, request: Request, params: dict[str, str]) -> Response:
        return self._list(params, ListOptions.from_query(request.query))

    def _list_by_post(self, request: Request, params: dict[str, str]) -> Response:
        return self._list(params, ListOptions.from_body(request.json(), request.query))

    def _list(self, params: dict[str, str], options: ListOptions) -> Response:
        base_id = params["base_id"]
        table = self._store.table_schema(base_id, params["table"])
        field_ids = _field_ids(table, options.fields) if options.fields is not None else None
        page = self._store.list_records(
            base_id,
            table["id"],
            page_size=options.page_size,
            max_records=options.max_records,
            offset=options.offset,
            view=options.view,
            sort=options.sort,
            filter_formula=options.formula or None,
            field_ids=field_ids,
        )
        formatter = RecordFormatter(
            self._store,
            base_id,
            table,
            by_field_id=options.by_field_id,
            cell_format=options.cell_format,
            comment_count=options.comment_count,
        )
        body: dict[str, Any] = {"records": [formatter.record(record) for record in page.records]}
        if page.offset:
            body["offset"] = page.offset
        return Response(200, body)

    def _get(self, request: Request, params: dict[str, str]) -> Response:
        options = ListOptions.from_query(
            {key: values for key, values in request.query.items() if key in _GET_ONE_PARAMS}
        )
        base_id = params["base_id"]
        table_id, record = self._store.get_record(base_id, params["table"], params["record_id"])
        table = self._store.table_schema(base_id, table_id)
        formatter = RecordFormatter(
            self._store, base_id, table, by_field_id=options.by_field_id, cell_format=options.cell_format
        )
        return Response(200, formatter.record(record))

    # -- writes ----------------------------------------------------------------------------------------

    def _create(self, request: Request, params: dict[str, str]) -> Response:
        body = _body(request)
        base_id, table_ref = params["base_id"], params["table"]
        typecast = body.get("typecast") is True
        if "records" in body:
            records = _record_list(body["records"], CREATE_RECORDS_MESSAGE, need_id=False)
            created = self._store.create(
                base_id, table_ref, [r["fields"] for r in records], typecast=typecast, actor=API_ACTOR
            )
            return Response(200, {"records": self._shape(base_id, table_ref, body, created)})
        if not isinstance(body.get("fields"), dict):
            raise unprocessable("INVALID_REQUEST_MISSING_FIELDS", 'Could not find field "fields" in the request body')
        created = self._store.create(base_id, table_ref, [body["fields"]], typecast=typecast, actor=API_ACTOR)
        return Response(200, self._shape(base_id, table_ref, body, created)[0])

    def _update_many(self, request: Request, params: dict[str, str]) -> Response:
        return self._write_many(request, params, replace=False)

    def _replace_many(self, request: Request, params: dict[str, str]) -> Response:
        return self._write_many(request, params, replace=True)

    def _write_many(self, request: Request, params: dict[str, str], *, replace: bool) -> Response:
        body = _body(request)
        base_id, table_ref = params["base_id"], params["table"]
        typecast = body.get("typecast") is True
        upsert = body.get("performUpsert")
        if upsert is not None:
            if not isinstance(upsert, dict) or "fieldsToMergeOn" not in upsert:
                raise unprocessable("INVALID_REQUEST_UNKNOWN", "performUpsert needs fieldsToMergeOn")
            records = _record_list(body.get("records"), WRITE_RECORDS_MESSAGE, need_id=False)
            result = self._store.upsert(
                base_id,
                table_ref,
                records,
                upsert["fieldsToMergeOn"],
                replace=replace,
                typecast=typecast,
                actor=API_ACTOR,
            )
            return Response(
                200,
                {
                    "createdRecords": result.created_ids,
                    "updatedRecords": result.updated_ids,
                    "records": self._shape(base_id, table_ref, body, result.records),
                },
            )
        records = _record_list(body.get("records"), WRITE_RECORDS_MESSAGE, need_id=True)
        updated = self._store.update(base_id, table_ref, records, replace=replace, typecast=typecast, actor=API_ACTOR)
        return Response(200, {"records": self._shape(base_id, table_ref, body, updated)})

    def _update_one(self, request: Request, params: dict[str, str]) -> Response:
        return self._write_one(request, params, replace=False)

    def _replace_one(self, request: Request, params: dict[str, str]) -> Response:
        return self._write_one(request, params, replace=True)

    def _write_one(self, request: Request, params: dict[str, str], *, replace: bool) -> Response:
        body = _body(request)
        if not isinstance(body.get("fields"), dict):
            raise unprocessable("INVALID_REQUEST_MISSING_FIELDS", 'Could not find field "fields" in the request body')
        base_id, table_ref = params["base_id"], params["table"]
        updated = self._store.update(
            base_id,
            table_ref,
            [{"id": params["record_id"], "fields": body["fields"]}],
            replace=replace,
            typecast=body.get("typecast") is True,
            actor=API_ACTOR,
            missing_status=403,
        )
        return Response(200, self._shape(base_id, table_ref, body, updated)[0])

    def _delete_many(self, request: Request, params: dict[str, str]) -> Response:
        record_ids = request.query.get("records[]", request.query.get("records", []))
        if not 1 <= len(record_ids) <= MAX_RECORDS_PER_WRITE:
            raise unprocessable("INVALID_RECORDS", "You must provide an array of up to 10 record ids")
        deleted = self._store.delete(params["base_id"], params["table"], record_ids, actor=API_ACTOR)
        return Response(200, {"records": [{"deleted": True, "id": record_id} for record_id in deleted]})

    def _delete_one(self, request: Request, params: dict[str, str]) -> Response:
        self._store.delete(
            params["base_id"], params["table"], [params["record_id"]], actor=API_ACTOR, missing_status=403
        )
        return Response(200, {"deleted": True, "id": params["record_id"]})

    def _shape(
        self, base_id: str, table_ref: str, body: Mapping[str, Any], records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        table = self._store.table_schema(base_id, table_ref)
        formatter = RecordFormatter(self._store, base_id, table, by_field_id=body.get("returnFieldsByFieldId") is True)
        return [formatter.record(record) for record in records]


_GET_ONE_PARAMS = frozenset({"cellFormat", "timeZone", "userLocale", "returnFieldsByFieldId"})


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise INVALID_REQUEST
    return body


def _record_list(records: Any, message: str, *, need_id: bool) -> list[dict[str, Any]]:
    """A batch's ``records``: 1–10 objects with a ``fields`` object (and an ``id`` for plain updates)."""
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS_PER_WRITE:
        raise unprocessable("INVALID_RECORDS", message)
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("fields"), dict):
            raise unprocessable("INVALID_RECORDS", message)
        if need_id and not isinstance(record.get("id"), str):
            raise unprocessable("INVALID_RECORDS", message)
    return records


def _field_ids(table: Mapping[str, Any], refs: list[Any]) -> list[str]:
    by_id = {f["id"]: f["id"] for f in table["fields"]}
    by_name = {f["name"]: f["id"] for f in table["fields"]}
    ids = []
    for ref in refs:
        field_id = by_id.get(ref) or by_name.get(ref) if isinstance(ref, str) else None
        if field_id is None:
            raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')
        ids.append(field_id)
    return list(dict.fromkeys(ids))
