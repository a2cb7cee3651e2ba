"""Writes through the API, by the authority matrix: an Airtable-authoritative table's write goes to Airtable.

The request is forwarded (through the shared per-base bucket, so the app's writes and the sync never 429 each
other) with ``returnFieldsByFieldId`` on, and Airtable's answer — the written records as Airtable now holds them
— is applied to the mirror by the sync's own writer before the app gets it: the app's next read from Postgres
sees its own write. A refusal from Airtable is relayed as Airtable gave it and changes nothing.

Retries: updates and deletes are idempotent by nature (the same PATCH leaves the same record; a repeated delete
answers Airtable's refusal and tombstones nothing twice). A *create* retried by the app after a lost answer is a new
create for Airtable, which has no idempotency keys; the forwarding client itself never resends a write Airtable
may have received (``airtable.client``'s rule). A Postgres-authoritative table's write is the mirror's
(``api.pg_writes``): the API writes the row as an app would and the outbox pushes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
import sqlalchemy as sa
from pyairtable import Api

from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.api.errors import ApiError, not_served
from airtable_pg.api.pg_writes import PostgresWrites
from airtable_pg.api.records import shape
from airtable_pg.api.tables import ServedTable
from airtable_pg.postgres.api_reads import MirrorRecord
from airtable_pg.postgres.table_store import TableStore
from airtable_pg.postgres.transaction import transaction

SOURCE = "api"  # change_event.source of a write the API applied
FORWARD_TIMEOUT_SECONDS = 60.0


class Forwarder:
    def __init__(self, airtable: Callable[[], Api] | None, db: sa.Engine, postgres: PostgresWrites) -> None:
        self._make_api = airtable
        self._postgres = postgres
        self._api: Api | None = None
        self._db = db
        self._stores: dict[tuple[str, str], TableStore] = {}
        self._lock = threading.Lock()

    def write(
        self,
        served: ServedTable,
        method: str,
        rest: list[str],
        query: list[tuple[str, str]],
        body: Any,
        token_id: str,
    ) -> tuple[int, Any]:
        """Forward one write (an Airtable-authoritative table's), or write the mirror (a Postgres-authoritative
        one's, ``api.pg_writes``); returns the status and body to answer with. ``token_id``: the app's token, whose
        retries of one request are recognized as such."""
        if served.table.is_postgres_authoritative:  # never to Airtable directly: Postgres holds this table's truth
            return self._postgres.write(served, method, rest, query, body, token_id)
        if not isinstance(body, dict):
            raise ApiError(422, "INVALID_REQUEST_UNKNOWN", "Invalid request: the body must be a JSON object")
        by_field_id = body.get("returnFieldsByFieldId") is True
        forwarded = {**body, "returnFieldsByFieldId": True} if method != "DELETE" else None
        api = self.client()
        url = str(api.build_url(served.base.id, served.table.id, *rest))
        status, answer = self._send(api, method, url, query, forwarded)
        if status != 200:
            return status, answer
        return 200, self._apply(served, method, answer, by_field_id)

    def relay(
        self, method: str, segments: list[str], query: list[tuple[str, str]], body: Any | None
    ) -> tuple[int, Any]:
        """Forward a request the mirror does not answer (metadata, webhooks, comments) as it came; Airtable's
        answer as it came. Same shared bucket, same token of airtable_pg's, which the app never sees."""
        api = self.client()
        path = [quote(segment, safe="") for segment in segments]  # a table called "a/b" stays one segment
        return self._send(api, method, str(api.build_url(*path)), query, body)

    @property
    def can_relay(self) -> bool:
        """Whether an Airtable client is configured to pass requests through with."""
        return self._make_api is not None

    def _send(self, api: Api, method: str, url: str, query: list[tuple[str, str]], body: Any | None) -> tuple[int, Any]:
        try:
            response = api.session.request(
                method, url, params=query or None, json=body, timeout=FORWARD_TIMEOUT_SECONDS
            )
        except requests.RequestException:
            return 503, {"error": {"type": "RETRIABLE_ERROR", "message": "Airtable could not be reached"}}
        try:
            return response.status_code, response.json()
        except ValueError:
            return 502, {"error": {"type": "SERVER_ERROR", "message": "Airtable's answer was not JSON"}}

    def _apply(self, served: ServedTable, method: str, answer: dict[str, Any], by_field_id: bool) -> dict[str, Any]:
        store = self._store(served)
        if method == "DELETE":
            deleted = answer.get("records", [answer])
            ids = [item["id"] for item in deleted if item.get("deleted")]
            with transaction(self._db) as cur:
                store.writer.tombstone(cur, ids, SOURCE, datetime.now(UTC))
            return answer
        records = answer.get("records", [answer])
        converter = RecordConverter(served.table)
        store.apply([converter.row(record)[0] for record in records], source=SOURCE)
        shaped = [shape(served, _mirror_record(record), by_field_id=by_field_id, field_ids=None) for record in records]
        if "records" not in answer:
            return shaped[0]
        return {**{k: v for k, v in answer.items() if k != "records"}, "records": shaped}

    def client(self) -> Api:
        """The Airtable client requests are forwarded with (built once, on first use)."""
        if self._make_api is None:
            raise not_served("writes (no Airtable token is configured: AIRTABLE_API_KEY)")
        with self._lock:
            if self._api is None:
                self._api = self._make_api()
            return self._api

    def _store(self, served: ServedTable) -> TableStore:
        key = (served.base.id, served.table.id)
        with self._lock:
            if key not in self._stores:
                self._stores[key] = TableStore(self._db, served.base, served.table)
            return self._stores[key]


def _mirror_record(record: dict[str, Any]) -> MirrorRecord:
    created = datetime.fromisoformat(record["createdTime"].replace("Z", "+00:00"))
    return MirrorRecord(record["id"], created, record.get("fields") or {})
