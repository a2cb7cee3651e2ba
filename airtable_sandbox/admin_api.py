"""Sandbox-only routes under ``/_sandbox/…``: statistics, runtime config, the clock, and "UI" edits.

Same bearer token as the Airtable routes; never rate-limited, never delayed, never faulted.

================================================================  =====================================================
Route                                                             What it does
================================================================  =====================================================
``GET    /_sandbox/stats``                                        request counters per base and for the token:
                                                                  ``requests``, ``served``, ``rate_limited`` (429s),
                                                                  ``faults_5xx``, ``peak_per_second``; ``unauthorized``;
                                                                  the current ``config`` (as ``/_sandbox/config``
                                                                  answers it); ``records`` per base/table
``POST   /_sandbox/stats/reset``                                  zero the counters (a lock-out in force stays)
``POST   /_sandbox/config``                                       change any of ``rate_limit_per_second``,
                                                                  ``token_rate_limit_per_second`` (``null`` disables),
                                                                  ``penalty_seconds``, ``latency_ms``, ``jitter_ms``,
                                                                  ``fault_5xx_ratio``, ``drop_notification_ratio``,
                                                                  ``notification_delay_ms``,
                                                                  ``report_lookup_changes_in_other_records``;
                                                                  all or nothing; answers the whole config
``POST   /_sandbox/clock/advance``  ``{"seconds": n}``              move the sandbox clock forward; answers ``{"now"}``
``POST   /_sandbox/bases/{base}/tables/{table}/records``          create, as a person in the Airtable UI (source
                                                                  ``client``): ``{"fields"}`` or ``{"records": [...]}``,
                                                                  optional ``typecast``, ``returnFieldsByFieldId``,
                                                                  ``source`` and ``sourceMetadata`` (record edits)
``PATCH  /_sandbox/bases/{base}/tables/{table}/records``          update ``{"records": [{"id", "fields"}]}``
``PATCH  /_sandbox/bases/{base}/tables/{table}/records/{rec}``    update one ``{"fields"}``
``DELETE /_sandbox/bases/{base}/tables/{table}/records/{rec}``    delete one
``DELETE /_sandbox/bases/{base}/tables/{table}/records``          delete ``?records[]=rec…&records[]=…``
``POST   /_sandbox/bases/{base}/tables/{table}/fields``           add a field ``{"name","type","options"?,
                                                                  "description"?}`` (schema drift); answers the field
``PATCH  /_sandbox/bases/{base}/tables/{table}/fields/{fld}``     ``{"name"?, "description"?, "type"?, "options"?}``
``DELETE /_sandbox/bases/{base}/tables/{table}/fields/{fld}``     destroy a field (not the primary one)
``POST   /_sandbox/bases/{base}/tables``                          create a table ``{"name", "description"?, "fields"}``
``PATCH  /_sandbox/bases/{base}/tables/{table}``                  rename / re-describe ``{"name"?, "description"?}``
``DELETE /_sandbox/bases/{base}/tables/{table}``                  destroy a table and its records
================================================================  =====================================================

Unlike the public API, UI edits have no 10-records-per-request cap (a person can paste many rows).
A record edit's ``source`` (default ``client``) makes it a form submission, an automation, a sync…
as webhooks report it; ``DELETE`` takes it as ``?source=``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from airtable_sandbox.clock import Clock, iso_millis
from airtable_sandbox.http import INVALID_REQUEST, ApiError, Request, Response, Route, unprocessable
from airtable_sandbox.limits import Limits
from airtable_sandbox.records_api import RecordFormatter
from airtable_sandbox.store import UI_ACTOR, Actor, Store
from airtable_sandbox.store.schema import FIELD_KEYS
from airtable_sandbox.store.users import actor_for_source
from airtable_sandbox.webhooks import WebhookService

PREFIX = "_sandbox"
RECORDS = f"{PREFIX}/bases/:base_id/tables/:table/records"
FIELDS = f"{PREFIX}/bases/:base_id/tables/:table/fields"
TABLES = f"{PREFIX}/bases/:base_id/tables"
# These live in the webhooks service or the store, not in the limits: POST /_sandbox/config routes them there.
DROP_RATIO = "drop_notification_ratio"
NOTIFICATION_DELAY = "notification_delay_ms"
OTHER_RECORD_LOOKUPS = "report_lookup_changes_in_other_records"
FIELD_CHANGE_KEYS = frozenset({"name", "description", "type", "options"})


class AdminApi:
    def __init__(self, store: Store, limits: Limits, clock: Clock, webhooks: WebhookService) -> None:
        self._store = store
        self._limits = limits
        self._clock = clock
        self._webhooks = webhooks

    def routes(self) -> list[Route]:
        return [
            Route("GET", f"{PREFIX}/stats", self._stats),
            Route("POST", f"{PREFIX}/stats/reset", self._reset_stats),
            Route("POST", f"{PREFIX}/config", self._configure),
            Route("POST", f"{PREFIX}/clock/advance", self._advance_clock),
            Route("POST", RECORDS, self._create),
            Route("PATCH", RECORDS, self._update_many),
            Route("PATCH", f"{RECORDS}/:record_id", self._update_one),
            Route("DELETE", RECORDS, self._delete_many),
            Route("DELETE", f"{RECORDS}/:record_id", self._delete_one),
            Route("POST", FIELDS, self._add_field),
            Route("PATCH", f"{FIELDS}/:field_id", self._update_field),
            Route("DELETE", f"{FIELDS}/:field_id", self._delete_field),
            Route("POST", TABLES, self._create_table),
            Route("PATCH", f"{TABLES}/:table", self._update_table),
            Route("DELETE", f"{TABLES}/:table", self._delete_table),
        ]

    # -- counters, config, clock -----------------------------------------------------------------------

    def _stats(self, request: Request, params: dict[str, str]) -> Response:
        stats = self._limits.stats()
        stats["config"].update(self._other_config())
        stats["records"] = {
            base_id: {t["id"]: self._store.count_records(base_id, t["id"]) for t in self._store.base_tables(base_id)}
            for base_id in self._store.base_ids()
        }
        return Response(200, stats)

    def _reset_stats(self, request: Request, params: dict[str, str]) -> Response:
        self._limits.reset_stats()
        return Response(200, {"reset": True})

    def _configure(self, request: Request, params: dict[str, str]) -> Response:
        changes = dict(_object(request))
        others = {
            key: changes.pop(key) for key in (DROP_RATIO, NOTIFICATION_DELAY, OTHER_RECORD_LOOKUPS) if key in changes
        }
        # Every part is validated before any is applied, so a refused request changes nothing.
        if DROP_RATIO in others and not _is_ratio(others[DROP_RATIO]):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", f"{DROP_RATIO} must be a number between 0 and 1")
        if NOTIFICATION_DELAY in others and not _is_non_negative(others[NOTIFICATION_DELAY]):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", f"{NOTIFICATION_DELAY} must be a non-negative number")
        if OTHER_RECORD_LOOKUPS in others and not isinstance(others[OTHER_RECORD_LOOKUPS], bool):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", f"{OTHER_RECORD_LOOKUPS} must be true or false")
        config = asdict(self._limits.configure(changes))
        if DROP_RATIO in others:
            self._webhooks.set_drop_notification_ratio(others[DROP_RATIO])
        if NOTIFICATION_DELAY in others:
            self._webhooks.set_notification_delay_ms(others[NOTIFICATION_DELAY])
        if OTHER_RECORD_LOOKUPS in others:
            self._store.report_lookup_changes_in_other_records = others[OTHER_RECORD_LOOKUPS]
        config.update(self._other_config())
        return Response(200, config)

    def _other_config(self) -> dict[str, Any]:
        return {
            DROP_RATIO: self._webhooks.drop_notification_ratio,
            NOTIFICATION_DELAY: self._webhooks.notification_delay_ms,
            OTHER_RECORD_LOOKUPS: self._store.report_lookup_changes_in_other_records,
        }

    def _advance_clock(self, request: Request, params: dict[str, str]) -> Response:
        seconds = _object(request).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", '"seconds" must be a non-negative number')
        self._clock.advance(float(seconds))
        return Response(200, {"now": iso_millis(self._clock.now())})

    # -- record edits as a person in the UI ------------------------------------------------------------

    def _create(self, request: Request, params: dict[str, str]) -> Response:
        body = _object(request)
        typecast = body.get("typecast") is True
        actor = _actor(body)
        if isinstance(body.get("records"), list):
            fields = [_fields(item) for item in body["records"]]
            created = self._store.create(params["base_id"], params["table"], fields, typecast=typecast, actor=actor)
            return Response(200, {"records": self._shape(params, body, created)})
        created = self._store.create(
            params["base_id"], params["table"], [_fields(body)], typecast=typecast, actor=actor
        )
        return Response(200, self._shape(params, body, created)[0])

    def _update_many(self, request: Request, params: dict[str, str]) -> Response:
        body = _object(request)
        records = body.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) and "id" in r for r in records):
            raise unprocessable("INVALID_RECORDS", 'Provide "records": [{"id", "fields"}, …]')
        updates = [{"id": r["id"], "fields": _fields(r)} for r in records]
        updated = self._store.update(
            params["base_id"], params["table"], updates, typecast=body.get("typecast") is True, actor=_actor(body)
        )
        return Response(200, {"records": self._shape(params, body, updated)})

    def _update_one(self, request: Request, params: dict[str, str]) -> Response:
        body = _object(request)
        updates = [{"id": params["record_id"], "fields": _fields(body)}]
        updated = self._store.update(
            params["base_id"],
            params["table"],
            updates,
            typecast=body.get("typecast") is True,
            actor=_actor(body),
            missing_status=403,
        )
        return Response(200, self._shape(params, body, updated)[0])

    def _delete_many(self, request: Request, params: dict[str, str]) -> Response:
        record_ids = request.query.get("records[]", request.query.get("records", []))
        if not record_ids:
            raise unprocessable("INVALID_RECORDS", "Provide records[]=rec… query parameters")
        actor = _actor({"source": request.first("source") or UI_ACTOR.source})
        deleted = self._store.delete(params["base_id"], params["table"], record_ids, actor=actor)
        return Response(200, {"records": [{"deleted": True, "id": record_id} for record_id in deleted]})

    def _delete_one(self, request: Request, params: dict[str, str]) -> Response:
        actor = _actor({"source": request.first("source") or UI_ACTOR.source})
        self._store.delete(params["base_id"], params["table"], [params["record_id"]], actor=actor, missing_status=403)
        return Response(200, {"deleted": True, "id": params["record_id"]})

    def _shape(self, params: dict[str, str], body: dict[str, Any], records: list[dict[str, Any]]) -> list[dict]:
        table = self._store.table_schema(params["base_id"], params["table"])
        formatter = RecordFormatter(
            self._store, params["base_id"], table, by_field_id=body.get("returnFieldsByFieldId") is True
        )
        return [formatter.record(record) for record in records]

    # -- schema drift ----------------------------------------------------------------------------------

    def _add_field(self, request: Request, params: dict[str, str]) -> Response:
        body = _object(request)
        if set(body) - FIELD_KEYS:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", f"A field accepts only {sorted(FIELD_KEYS)}")
        return Response(200, self._store.add_field(params["base_id"], params["table"], body))

    def _update_field(self, request: Request, params: dict[str, str]) -> Response:
        body = _object(request)
        if not body or set(body) - FIELD_CHANGE_KEYS:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", f"Provide any of {sorted(FIELD_CHANGE_KEYS)}")
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", '"name" must be a non-empty string')
        if "type" in body and not isinstance(body["type"], str):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", '"type" must be a field type')
        field = self._store.update_field(params["base_id"], params["table"], params["field_id"], body)
        return Response(200, field)

    def _delete_field(self, request: Request, params: dict[str, str]) -> Response:
        self._store.delete_field(params["base_id"], params["table"], params["field_id"])
        return Response(200, {"deleted": True, "id": params["field_id"]})

    def _create_table(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, self._store.create_table(params["base_id"], _object(request)))

    def _update_table(self, request: Request, params: dict[str, str]) -> Response:
        body = _object(request)
        if not body or set(body) - {"name", "description"}:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", 'Provide "name" and/or "description"')
        return Response(200, self._store.update_table(params["base_id"], params["table"], body))

    def _delete_table(self, request: Request, params: dict[str, str]) -> Response:
        table_id = self._store.table_schema(params["base_id"], params["table"])["id"]
        self._store.delete_table(params["base_id"], table_id)
        return Response(200, {"deleted": True, "id": table_id})


def _object(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise INVALID_REQUEST
    return body


def _is_ratio(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _fields(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
        raise ApiError(422, "INVALID_REQUEST_MISSING_FIELDS", 'Could not find field "fields" in the request body')
    return item["fields"]


def _is_non_negative(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _actor(body: dict[str, Any]) -> Actor:
    """Who makes a record edit: ``source`` (default ``client``) and its ``sourceMetadata``, as webhooks show them."""
    source = body.get("source", UI_ACTOR.source)
    metadata = body.get("sourceMetadata")
    if not isinstance(source, str) or (metadata is not None and not isinstance(metadata, dict)):
        raise unprocessable("INVALID_REQUEST_UNKNOWN", '"source" is a string and "sourceMetadata" an object')
    if source == UI_ACTOR.source and metadata is None:
        return UI_ACTOR
    try:
        return actor_for_source(source, metadata)
    except ValueError as exc:
        raise unprocessable("INVALID_REQUEST_UNKNOWN", str(exc)) from exc
