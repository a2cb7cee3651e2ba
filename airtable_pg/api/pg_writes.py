"""Writes through the API to a **Postgres-authoritative** table: the mirror row is written, the outbox pushes it.

Postgres holds such a table's truth, so a write never goes to Airtable directly. The API checks the request as
Airtable would (``api.cell_input``), then writes the mirror rows in one transaction as an app would — typed columns
and ``fields`` cells, not marked as the sync's — so the outbox trigger queues the change like any app write. The
app's next read through the API sees it at once, in ``postgres_primary``.

**Record ids.** Airtable gives a record its id; the mirror row of a create has none until the outbox's upsert (on
the table's idempotency-key field, which holds the row's Postgres id) comes back. The API returns only Airtable's
ids, never one of its own: a made-up id would stop working the moment an entity is rolled back to Airtable, or the
app is pointed at Airtable again. So after committing, the API pushes the rows it wrote itself — leased outbox
items, beside any running pusher, through the shared bucket — and waits for Airtable's answer up to
``AIRTABLE_PG_API_WRITE_WAIT_SECONDS``; the answer is then the rows as Airtable echoed them (its ids, its
``createdTime``, its computed cells): the body Airtable gives. Airtable holds the write before the app is answered,
so reads served from Airtable (an entity in ``airtable`` or ``shadow``) see it too.

**When Airtable does not answer in time** (down, 429s, slow): the write is committed and stays queued — never lost;
the outbox pushes it when Airtable is back. An update or delete is answered at once (its record id is known;
Postgres, the authority, holds the write). A create has no id to answer with: 503 ``RETRIABLE_ERROR``, and the
request is remembered (``airtable_sync.api_pending_write``, by a fingerprint of token, method, table and body) until
answered: the same request sent again finds the rows it wrote and waits for them instead of writing again.

**Airtable refuses** what the mirror could not check (a select option the field lacks, on a table pushed without
``typecast``; an unknown collaborator): the refusal is relayed as Airtable gave it, and the request's write is
undone (``api_writes.undo_refused``): created rows go, changed rows get their state back, the dead letters are
discarded — a refusal changes nothing, as in Airtable. The API's pusher keeps a request's batch whole for this
(Airtable takes or refuses a request as a whole). A row the app changed again meanwhile keeps the app's write.

**Retries.** A request repeated after an error answer (503, a dropped connection while the API waited) resumes the
same rows: nothing is written twice. Once the API has answered 200, the same body again is a new request, as in
Airtable: an update sets the same values (no change), a delete answers Airtable's refusal for a record already
gone, a create creates another record. An app that must not create twice after a *lost 200* uses Airtable's own
idempotent create: ``performUpsert`` with ``fieldsToMergeOn`` a key of its own, which the API applies in one
transaction per table (a retried upsert matches the row the first one created).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from psycopg import Cursor

from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.airtable.errors import AirtableError
from airtable_pg.api.cell_input import CellInput
from airtable_pg.api.errors import ApiError, model_not_found, unknown_field, unprocessable
from airtable_pg.api.records import shape
from airtable_pg.api.tables import ServedTable
from airtable_pg.postgres import api_writes
from airtable_pg.postgres.api_reads import MirrorRecord
from airtable_pg.postgres.api_writes import PendingWrite, Undo, WrittenRow
from airtable_pg.postgres.transaction import transaction
from airtable_pg.sync.outbound import OutboundPusher

log = logging.getLogger(__name__)

MAX_RECORDS = 10  # Airtable's limit per write request
CREATE_RECORDS_MESSAGE = (
    'You must provide an array of up to 10 record objects, each with a "fields" object for cell values.'
)
WRITE_RECORDS_MESSAGE = (
    'You must provide an array of up to 10 record objects, each with an "id" ID field and a "fields" object '
    "for cell values."
)
PUSH_AGAIN_SECONDS = 0.2  # while waiting, how often the rows' outbox items are looked at for a due push


@dataclass
class _Request:
    """One write request, parsed: what it does and to which records."""

    kind: str  # create | update | upsert | delete
    single: bool  # the one-record form (answered with a record, not {"records": […]})
    records: list[dict[str, Any]] = field(default_factory=list)  # {"id"?, "fields"}
    replace: bool = False  # PUT: cells not named are cleared
    typecast: bool = False
    by_field_id: bool = False
    merge_on: list[Any] | None = None
    delete_ids: list[str] = field(default_factory=list)


class PostgresWrites:
    def __init__(
        self,
        db: sa.Engine,
        pusher: Callable[[], OutboundPusher] | None,
        *,
        wait_seconds: float,
        poll_seconds: float = 0.05,
    ) -> None:
        self._db = db
        self._make_pusher = pusher  # None: no Airtable token here; another process's pusher pushes
        self._pusher: OutboundPusher | None = None
        self._lock = threading.Lock()
        self.wait_seconds = wait_seconds
        self._poll = poll_seconds
        self._converters: dict[str, RecordConverter] = {}

    def write(
        self, served: ServedTable, method: str, rest: list[str], query: list[tuple[str, str]], body: Any, token_id: str
    ) -> tuple[int, Any]:
        request = _parse(method, rest, query, body)
        fingerprint = _fingerprint(token_id, served, method, rest, query, body)
        undo: Undo | None = None  # a retry resumes rows written by an earlier request: their undo went with it
        with transaction(self._db) as cur:
            written = api_writes.pending_write(cur, fingerprint)
            if written is None:  # not a retry of a request still unanswered: write it now
                undo = Undo()
                written = self._apply(cur, served, request, undo)
                undo.versions = api_writes.outbox_versions(cur, served.base, served.table, list(undo.before))
                api_writes.save_pending_write(cur, fingerprint, served.base.id, served.table.id, written)
        return self._answer(served, request, written, fingerprint, undo)

    # -- the transaction -------------------------------------------------------------------------------

    def _apply(self, cur: Cursor, served: ServedTable, request: _Request, undo: Undo) -> PendingWrite:
        """Write the request's rows; ``undo`` learns each changed row's state before."""
        base, table = served.base, served.table
        if request.kind == "delete":
            live = api_writes.lock_live_rows(cur, base, table, request.delete_ids)
            for record_id in request.delete_ids:
                if record_id not in live:
                    if request.single:
                        raise model_not_found()
                    raise ApiError(404, "NOT_FOUND", f'Could not find a record with ID "{record_id}".')
            row_ids = [live[record_id].id for record_id in request.delete_ids]
            for row_id in row_ids:
                undo.before[row_id] = api_writes.row_state(cur, base, table, row_id)
            api_writes.tombstone_rows(cur, base, table, row_ids)
            return PendingWrite(row_ids, [])

        def links(table_id: str, ids: list[str]) -> set[str]:
            target = base.table_by_id(table_id)
            return api_writes.live_ids(cur, base, target, ids) if target is not None else set()

        cells = CellInput(served, typecast=request.typecast, links=links)
        merge_fields = self._merge_fields(served, request.merge_on) if request.kind == "upsert" else None
        if merge_fields is not None:
            api_writes.lock_for_upsert(cur, base, table)
        row_ids: list[uuid.UUID] = []
        created: list[uuid.UUID] = []
        for record in request.records:
            written = cells.cells(record["fields"])
            if request.kind == "create" or (merge_fields is not None and record.get("id") is None):
                row_id = self._match(cur, served, written, merge_fields) if merge_fields else None
                if row_id is None:
                    row_id = self._insert(cur, served, written)
                    created.append(row_id)
                    undo.created.add(row_id)
                else:
                    self._update(cur, served, row_id, written, cells, request.replace, undo)
            else:
                live = api_writes.lock_live_rows(cur, base, table, [record["id"]])
                if record["id"] not in live:
                    if request.single:
                        raise model_not_found()
                    raise unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record['id']} does not exist in this table")
                row_id = live[record["id"]].id
                self._update(cur, served, row_id, written, cells, request.replace, undo)
            row_ids.append(row_id)
        return PendingWrite(row_ids, created)

    def _merge_fields(self, served: ServedTable, merge_on: list[Any] | None) -> list[str]:
        if not isinstance(merge_on, list) or not 1 <= len(merge_on) <= 3:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "fieldsToMergeOn must name 1 to 3 fields")
        columns = []
        for ref in merge_on:
            f = served.field(ref) if isinstance(ref, str) else None
            if f is None:
                raise unknown_field(ref)
            if f.is_computed:
                raise unprocessable(
                    "INVALID_VALUE_FOR_COLUMN", f'Field "{f.name}" is computed and cannot be used in fieldsToMergeOn'
                )
            columns.append(f.id)
        return columns

    def _match(
        self, cur: Cursor, served: ServedTable, written: dict[str, Any], merge_on: list[str]
    ) -> uuid.UUID | None:
        columns = self._columns(served, {field_id: written.get(field_id) for field_id in merge_on})
        matches = api_writes.match_rows(cur, served.base, served.table, columns)
        if len(matches) > 1:
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN",
                f"Cannot update more than one record with the same values in fieldsToMergeOn ({len(matches)} records "
                "match)",
            )
        return matches[0][0] if matches else None

    def _insert(self, cur: Cursor, served: ServedTable, written: dict[str, Any]) -> uuid.UUID:
        columns = self._columns(served, written)
        stored = self._cells(served, {k: v for k, v in written.items() if v is not None})
        return api_writes.insert_row(cur, served.base, served.table, columns, stored)

    def _update(
        self,
        cur: Cursor,
        served: ServedTable,
        row_id: uuid.UUID,
        written: dict[str, Any],
        cells: CellInput,
        replace: bool,
        undo: Undo,
    ) -> None:
        if row_id not in undo.before and row_id not in undo.created:  # its state before this request
            undo.before[row_id] = api_writes.row_state(cur, served.base, served.table, row_id)
        if replace:  # PUT: every writable cell it does not name is cleared
            written = {**{f.id: None for f in cells.writable()}, **written}
        columns = self._columns(served, written)
        stored = self._cells(served, {k: v for k, v in written.items() if v is not None})
        cleared = [field_id for field_id, value in written.items() if value is None]
        api_writes.update_row(cur, served.base, served.table, row_id, columns, stored, cleared)

    def _columns(self, served: ServedTable, written: dict[str, Any]) -> dict[str, Any]:
        """The typed column values of the named cells, converted as the sync converts Airtable's cells."""
        row, _ = self._converter(served).row({"id": "", "fields": {k: v for k, v in written.items() if v is not None}})
        specs = served.table.fields
        return {specs[field_id].column: row.columns[specs[field_id].column] for field_id in written}

    def _cells(self, served: ServedTable, cells: dict[str, Any]) -> dict[str, Any]:
        """The cells as ``fields`` keeps them (a NUL character escaped, as the sync stores it)."""
        row, _ = self._converter(served).row({"id": "", "fields": cells})
        return row.fields

    def _converter(self, served: ServedTable) -> RecordConverter:
        key = served.table.id
        if key not in self._converters:
            self._converters[key] = RecordConverter(served.table)
        return self._converters[key]

    # -- pushing, waiting, answering -------------------------------------------------------------------

    def _answer(
        self, served: ServedTable, request: _Request, written: PendingWrite, fingerprint: str, undo: Undo | None
    ) -> tuple[int, Any]:
        rows, refused, dead = self._wait(served, written.row_ids)
        if refused is not None:  # Airtable's own refusal: relayed, and the request's write undone
            with transaction(self._db) as cur:
                api_writes.undo_refused(cur, served.base, served.table, written.created_ids, undo)
                api_writes.forget_pending_write(cur, fingerprint)
            return refused.status or 422, _refusal_body(refused)
        if dead:  # out of attempts, or refused to another pusher: kept for triage, and for a retry after a replay
            return 503, _retriable(
                "Airtable did not take this write: it is saved in Postgres as a dead letter (airtable-pg dlq list); "
                "once it is replayed, the same request again answers it (it is not written twice)"
            )
        if request.kind != "delete" and any(
            row_id not in rows or rows[row_id].airtable_id is None for row_id in written.row_ids
        ):
            return 503, _retriable(
                f"The write is saved in Postgres and queued for Airtable, which has not answered within "
                f"{self.wait_seconds:g} s with the record id: send the same request again to get it (it is not "
                "written twice)"
            )
        with transaction(self._db) as cur:
            api_writes.forget_pending_write(cur, fingerprint)
        return 200, _body(served, request, written, rows)

    def _wait(
        self, served: ServedTable, row_ids: list[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, WrittenRow], AirtableError | None, bool]:
        """The written rows once the outbox pushed them (or as they are when ``wait_seconds`` ran out); Airtable's
        refusal if it refused one to this process's push; whether one is a dead letter."""
        deadline = time.monotonic() + self.wait_seconds
        refused: dict[uuid.UUID, AirtableError] = {}
        pushed_at = float("-inf")
        while True:
            if time.monotonic() - pushed_at >= PUSH_AGAIN_SECONDS:
                refused.update(self._push(served, row_ids))
                pushed_at = time.monotonic()
            with transaction(self._db) as cur:
                rows = api_writes.written_rows(cur, served.base, served.table, row_ids)
            if len(rows) < len(set(row_ids)):  # the app removed a row meanwhile: nothing more will come of it
                return rows, None, False
            dead = [row_id for row_id in row_ids if rows[row_id].outbox_status == "dead"]
            if dead:
                return rows, next((refused[row_id] for row_id in dead if row_id in refused), None), True
            if all(rows[row_id].outbox_status in (None, "done") for row_id in row_ids):
                return rows, None, False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return rows, None, False
            time.sleep(min(self._poll, remaining))

    def _push(self, served: ServedTable, row_ids: list[uuid.UUID]) -> dict[uuid.UUID, AirtableError]:
        if self._make_pusher is None:
            return {}
        try:
            with self._lock:
                if self._pusher is None:
                    self._pusher = self._make_pusher()
            return self._pusher.push_rows(served.base, served.table, row_ids).refused
        except Exception as error:  # noqa: BLE001 - the write is committed; the outbox pushes it later
            log.warning("pushing the API's write to %s failed; the outbox retries it: %s", served.table.key, error)
            return {}


def _parse(method: str, rest: list[str], query: list[tuple[str, str]], body: Any) -> _Request:
    """The request as Airtable reads it, with Airtable's refusals for a malformed one."""
    if method == "DELETE":
        if rest:
            return _Request("delete", single=True, delete_ids=[rest[0]])
        ids = [value for key, value in query if key in ("records[]", "records")]
        if not 1 <= len(ids) <= MAX_RECORDS:
            raise unprocessable("INVALID_RECORDS", "You must provide an array of up to 10 record ids")
        return _Request("delete", single=False, delete_ids=list(dict.fromkeys(ids)))
    if not isinstance(body, dict):
        raise unprocessable("INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed.")
    options = {"typecast": body.get("typecast") is True, "by_field_id": body.get("returnFieldsByFieldId") is True}
    if method == "POST":
        if "records" in body:
            return _Request(
                "create", single=False, records=_records(body["records"], CREATE_RECORDS_MESSAGE), **options
            )
        return _Request("create", single=True, records=[{"fields": _fields(body)}], **options)
    replace = method == "PUT"
    if rest:
        return _Request("update", single=True, records=[{"id": rest[0], "fields": _fields(body)}], replace=replace,
                        **options)  # fmt: skip
    upsert = body.get("performUpsert")
    if upsert is not None:
        if not isinstance(upsert, dict) or "fieldsToMergeOn" not in upsert:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "performUpsert needs fieldsToMergeOn")
        records = _records(body.get("records"), WRITE_RECORDS_MESSAGE)
        return _Request("upsert", single=False, records=records, replace=replace, merge_on=upsert["fieldsToMergeOn"],
                        **options)  # fmt: skip
    records = _records(body.get("records"), WRITE_RECORDS_MESSAGE)
    if not all(isinstance(record.get("id"), str) for record in records):
        raise unprocessable("INVALID_RECORDS", WRITE_RECORDS_MESSAGE)
    return _Request("update", single=False, records=records, replace=replace, **options)


def _records(records: Any, message: str) -> list[dict[str, Any]]:
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
        raise unprocessable("INVALID_RECORDS", message)
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("fields"), dict):
            raise unprocessable("INVALID_RECORDS", message)
    return records


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(body.get("fields"), dict):
        raise unprocessable("INVALID_REQUEST_MISSING_FIELDS", 'Could not find field "fields" in the request body')
    return body["fields"]


def _fingerprint(
    token_id: str, served: ServedTable, method: str, rest: list[str], query: list[tuple[str, str]], body: Any
) -> str:
    """The same request from the same token has the same fingerprint (a retry), whatever its JSON's key order."""
    text = json.dumps(
        [token_id, served.base.id, served.table.id, method, rest, sorted(query), body],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _body(served: ServedTable, request: _Request, written: PendingWrite, rows: dict[uuid.UUID, WrittenRow]) -> Any:
    ordered = [rows[row_id] for row_id in written.row_ids]
    if request.kind == "delete":
        deleted = [{"deleted": True, "id": record_id} for record_id in request.delete_ids]
        return deleted[0] if request.single else {"records": deleted}
    records = [_shaped(served, row, request.by_field_id) for row in ordered]
    if request.single:
        return records[0]
    if request.kind != "upsert":
        return {"records": records}
    created = set(written.created_ids)
    return {
        "createdRecords": list(dict.fromkeys(row.airtable_id for row in ordered if row.id in created)),
        "updatedRecords": list(dict.fromkeys(row.airtable_id for row in ordered if row.id not in created)),
        "records": records,
    }


def _shaped(served: ServedTable, row: WrittenRow, by_field_id: bool) -> dict[str, Any]:
    assert row.airtable_id is not None and row.created is not None  # answered only once Airtable gave them
    return shape(
        served, MirrorRecord(row.airtable_id, row.created, row.fields), by_field_id=by_field_id, field_ids=None
    )


def _refusal_body(error: AirtableError) -> dict[str, Any]:
    if error.error_type is None:
        return {"error": {"type": "INVALID_REQUEST_UNKNOWN", "message": str(error)}}
    if error.detail is None:
        return {"error": {"type": error.error_type}}
    return {"error": {"type": error.error_type, "message": error.detail}}


def _retriable(message: str) -> dict[str, Any]:
    return {"error": {"type": "RETRIABLE_ERROR", "message": message}}
