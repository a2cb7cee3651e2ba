"""The outbound sync: push the outbox of Postgres-authoritative tables to Airtable.

A pass per base claims due outbox items under a lease, reads each row's **current** state and sends batches of
up to 10 records through the shared per-base rate limit: creates and updates as one upsert on the table's
idempotency-key field (the row's Postgres id), deletes by record id. Tables whose links point at other
Postgres-authoritative tables go after them (parents first), and a link the app wrote as a parent row's
Postgres id is sent as that row's Airtable id — or the change waits until the parent is in Airtable.

Airtable's answer is written back in one transaction per batch, as the sync (no outbox echo): the new
``airtable_id``, Airtable's computed values, the join tables; the item is done unless the app changed the row
meanwhile (then its newer state goes next). Failures:

* passing (429 after the client's own waits, 5xx, timeouts): the item is retried with exponential back-off and
  jitter; after ``max_attempts`` it becomes a dead letter;
* permanent (422 bad value or unknown field, 403): a batch is split so only the bad item fails, and that item
  becomes a dead letter at once: retrying the same request cannot help. The other items go on.

Killed anywhere, nothing is lost (the items stay pending; the lease runs out) and nothing is duplicated (the
next push upserts on the key; a later full sync matches the record to its row by the key too).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from psycopg import Cursor
from pyairtable import Api

from airtable_pg.airtable import outbound as airtable_outbound
from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.airtable.errors import AirtableError
from airtable_pg.airtable.meta import fetch_tables
from airtable_pg.airtable.write_cells import UnwritableValue, pushable_fields, write_cells
from airtable_pg.comparable import comparable
from airtable_pg.postgres import outbound_rows, outbox
from airtable_pg.postgres.listen import start_listener
from airtable_pg.postgres.mirror_writer import MirrorWriter
from airtable_pg.postgres.outbox import OutboxItem
from airtable_pg.postgres.transaction import transaction
from airtable_pg.settings import Settings
from airtable_pg.spec import BaseSpec, FieldSpec, SyncSpec, TableSpec
from airtable_pg.sync.table_sync import describe_error
from airtable_pg.sync.uploads import Upload, UploadRefused, UploadSources, split_uploads, upload

log = logging.getLogger(__name__)

SOURCE = "outbound"
BATCH = airtable_outbound.MAX_BATCH


@dataclass(frozen=True)
class OutboundConfig:
    max_attempts: int = 8
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    lease_seconds: float = 60.0  # a claimed item another pusher may take over after this (its pusher died)
    claim_limit: int = 50  # items claimed per round per base (5 requests' worth at 10 per batch)
    defer_seconds: float = 1.0  # a child waiting for its parent's create looks again after this
    upload_dir: Path | None = None  # where {"file": …} attachments are read from (sync.uploads)
    # A batch Airtable refuses is split so only the bad change fails and the others go on. The API's own pushes keep
    # a request's batch whole instead: Airtable takes or refuses a request as a whole, and so must the API.
    split_refused: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundConfig:
        return cls(
            max_attempts=settings.outbound_max_attempts,
            backoff_seconds=settings.outbound_backoff_seconds,
            backoff_max_seconds=settings.outbound_backoff_max_seconds,
            upload_dir=Path(settings.upload_dir) if settings.upload_dir else None,
        )


@dataclass
class PushReport:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    retried: int = 0
    dead_lettered: int = 0
    deferred: int = 0
    requests: int = 0
    by_table: dict[str, dict[str, int]] = field(default_factory=dict)  # table key → created/updated/deleted
    lag_seconds: list[float] = field(default_factory=list)  # the app's change → Airtable's answer committed
    refused: dict[uuid.UUID, AirtableError] = field(default_factory=dict)  # row id → Airtable's permanent refusal

    @property
    def pushed(self) -> int:
        return self.created + self.updated + self.deleted

    def count(self, table: TableSpec, kind: str, n: int = 1) -> None:
        setattr(self, kind, getattr(self, kind) + n)
        tally = self.by_table.setdefault(table.key, {"created": 0, "updated": 0, "deleted": 0})
        tally[kind] += n

    def add(self, other: PushReport) -> None:
        for name in ("created", "updated", "deleted", "retried", "dead_lettered", "deferred", "requests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, tally in other.by_table.items():
            mine = self.by_table.setdefault(key, {"created": 0, "updated": 0, "deleted": 0})
            for kind, n in tally.items():
                mine[kind] += n
        self.lag_seconds += other.lag_seconds
        self.refused.update(other.refused)


@dataclass
class _Push:
    """One item on its way: the row as read, what goes to Airtable."""

    item: OutboxItem
    table: TableSpec
    record: dict[str, Any] | None = None  # upsert: {"id"?, "fields"}
    snapshot: dict[str, Any] | None = None  # upsert: the pushed typed values, comparable form, by column
    airtable_id: str | None = None  # delete: the record to delete
    uploads: list[Upload] = field(default_factory=list)  # files to append once the record is written (sync.uploads)


class PermanentPushError(Exception):
    """A change Airtable will refuse however often it is sent (dead-lettered at once)."""


class OutboundPusher:
    """Pushes the outbox of every Postgres-authoritative table in ``spec``; one pass at a time per instance."""

    def __init__(
        self,
        spec: SyncSpec,
        db: sa.Engine,
        api: Api,
        config: OutboundConfig | None = None,
        *,
        after_answer: Callable[[], None] | None = None,
        uploads: UploadSources | None = None,
    ) -> None:
        self.spec = spec
        self.uploads = uploads
        self.db = db
        self.api = api
        self.config = config or OutboundConfig()
        self._after_answer = after_answer  # runs between Airtable's answer and the commit (crash tests)
        self._random = random.Random()
        self._key_fields: dict[tuple[str, str], str] = {}
        self._writers: dict[tuple[str, str], MirrorWriter] = {}
        self._converters: dict[tuple[str, str], RecordConverter] = {}
        self._ensuring = threading.Lock()  # the API pushes from many request threads: one creates the key field

    # -- setup -----------------------------------------------------------------------------------------

    def tables(self, base: BaseSpec) -> list[TableSpec]:
        """The base's Postgres-authoritative tables, parents before the tables that link to them."""
        own = {t.id: t for t in base.tables.values() if t.is_postgres_authoritative}
        ordered: list[TableSpec] = []
        visiting: set[str] = set()

        def visit(table: TableSpec) -> None:
            if table in ordered or table.id in visiting:
                return  # a cycle of links: the deferral of unresolved links breaks it at run time
            visiting.add(table.id)
            for link in table.link_fields:
                if link.linked_table in own and link.linked_table != table.id:
                    visit(own[link.linked_table])
            ordered.append(table)

        for table in own.values():
            visit(table)
        return ordered

    def ensure_key_fields(self) -> dict[tuple[str, str], str]:
        """Each Postgres-authoritative table's idempotency-key field in Airtable (created when missing)."""
        for base in self.spec.bases.values():
            tables = self.tables(base)
            if not tables:
                continue
            metadata = fetch_tables(self.api, base.id)
            for table in tables:
                field_id = airtable_outbound.ensure_key_field(
                    self.api, base.id, table.id, table.idempotency_field, metadata
                )
                with transaction(self.db) as cur:
                    outbox.save_key_field(cur, base.id, table.id, field_id, table.idempotency_field)
                self._key_fields[(base.id, table.id)] = field_id
        return dict(self._key_fields)

    def _key_field(self, base: BaseSpec, table: TableSpec) -> str:
        key = (base.id, table.id)
        if key not in self._key_fields:
            with self._ensuring:
                if key not in self._key_fields:
                    with transaction(self.db) as cur:
                        found = outbox.key_field_id(cur, base.id, table.id)
                    if found is None:
                        self.ensure_key_fields()
                    else:
                        self._key_fields[key] = found
        return self._key_fields[key]

    # -- passes ----------------------------------------------------------------------------------------

    def push_all(self) -> PushReport:
        """Push every due item of every base; returns when none is due."""
        report = PushReport()
        for base in self.spec.bases.values():
            if self.tables(base):
                report.add(self.push_base(base))
        return report

    def push_base(self, base: BaseSpec) -> PushReport:
        report = PushReport()
        while True:
            with transaction(self.db) as cur:
                items = outbox.claim_due(cur, base.id, self.config.claim_limit, self.config.lease_seconds)
            if not items:
                return report
            self._push_items(base, items, report)

    def push_rows(self, base: BaseSpec, table: TableSpec, row_ids: list[uuid.UUID]) -> PushReport:
        """Push the pending changes of these rows now (the API's own writes, while the app waits for its answer).

        Leased like any pass, so a pusher running beside it never sends the same change twice; a change another
        pusher holds is left to it (its write-back lands all the same)."""
        report = PushReport()
        self._key_field(base, table)  # before claiming: Airtable unreachable here must not leave a lease behind
        with transaction(self.db) as cur:
            items = outbox.claim_rows(cur, base.schema, table.mirror, row_ids, self.config.lease_seconds)
        if items:
            self._push_items(base, items, report)
        return report

    def follow(
        self,
        database_url: str,
        stop: threading.Event,
        *,
        interval: float = 5.0,
        on_pushed: Callable[[PushReport], None] | None = None,
    ) -> None:
        """Push until ``stop``: at once when a trigger notifies, else every ``interval`` seconds (retries fall due)."""
        wake = start_listener(database_url, outbox.NOTIFY_CHANNEL, stop)
        while not stop.is_set():
            wake.clear()
            try:
                report = self.push_all()
                if on_pushed is not None and (report.pushed or report.dead_lettered):
                    on_pushed(report)
            except Exception:
                log.exception("outbound pass failed; retrying")
            wake.wait(self._until_next_due(interval))

    def _until_next_due(self, interval: float) -> float:
        with transaction(self.db) as cur:
            seconds = outbox.seconds_until_next_due(cur)
        return interval if seconds is None else min(interval, max(0.05, seconds))

    # -- one round of claimed items --------------------------------------------------------------------

    def _push_items(self, base: BaseSpec, items: list[OutboxItem], report: PushReport) -> None:
        by_table: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_table.setdefault(item.table_id, []).append(item)
        for table in self.tables(base):
            mine = by_table.pop(table.id, [])
            if mine:
                self._push_table(base, table, mine, report)
        for leftovers in by_table.values():  # a table no longer Postgres-authoritative in the spec
            with transaction(self.db) as cur:
                for item in leftovers:
                    outbox.defer(cur, item, self.config.backoff_max_seconds, "the spec no longer pushes this table")

    def _push_table(self, base: BaseSpec, table: TableSpec, items: list[OutboxItem], report: PushReport) -> None:
        key_field = self._key_field(base, table)
        upserts: list[_Push] = []
        deletes: list[_Push] = []
        with transaction(self.db) as cur:
            rows = outbound_rows.rows_by_id(cur, base, table, [item.row_id for item in items])
            for item in items:
                row = rows.get(item.row_id)
                try:
                    push = self._prepare(cur, base, table, item, row, key_field)
                except _Deferred as deferred:
                    outbox.defer(cur, item, self.config.defer_seconds, str(deferred))
                    report.deferred += 1
                    continue
                except PermanentPushError as error:
                    self._dead_letter(cur, _Push(item, table), str(error), report)
                    continue
                if push is None:  # nothing to do in Airtable (a row deleted before it was ever pushed)
                    outbox.mark_pushed(cur, item, None, None)
                elif push.record is not None:
                    upserts.append(push)
                else:
                    deletes.append(push)
        for start in range(0, len(upserts), BATCH):
            self._send(base, table, upserts[start : start + BATCH], key_field, report)
        for start in range(0, len(deletes), BATCH):
            self._send(base, table, deletes[start : start + BATCH], key_field, report)

    def _prepare(
        self, cur: Cursor, base: BaseSpec, table: TableSpec, item: OutboxItem, row: dict | None, key_field: str
    ) -> _Push | None:
        if row is None or row["deleted_at"] is not None or item.operation == "delete":
            airtable_id = (row or {}).get("airtable_id") or item.airtable_id
            if airtable_id is None and item.pushed_fields is not None:  # created, but its answer was lost
                airtable_id = airtable_outbound.find_by_key(self.api, base.id, table.id, key_field, str(item.row_id))
            return _Push(item, table, airtable_id=airtable_id) if airtable_id else None
        fields = pushable_fields(table)
        columns = {f.column: row.get(f.column) for f in fields}
        for link in (f for f in fields if f.is_link):
            columns[link.column] = self._resolve_links(cur, base, link.linked_table, columns[link.column])
        uploads = self._uploads(cur, fields, columns)
        try:
            cells = write_cells(fields, columns)
        except UnwritableValue as error:
            raise PermanentPushError(str(error)) from error
        cells[key_field] = str(item.row_id)
        record: dict[str, Any] = {"fields": cells}
        if row.get("airtable_id"):
            record["id"] = row["airtable_id"]
        snapshot = {column: comparable(value) for column, value in columns.items()}
        return _Push(item, table, record=record, snapshot=snapshot, uploads=uploads)

    def _uploads(self, cur: Cursor, fields: list[FieldSpec], columns: dict[str, Any]) -> list[Upload]:
        """Takes the items to upload out of the attachment cells (``columns`` keeps what Airtable can be sent)."""
        found: list[Upload] = []
        for attachment_field in (f for f in fields if f.type == "multipleAttachments"):
            kept, items = split_uploads(columns[attachment_field.column])
            if not items:
                continue
            if self.uploads is None:
                raise PermanentPushError("an attachment to upload, but this pusher has no upload sources")
            columns[attachment_field.column] = kept
            try:
                found += [self.uploads.find(cur, attachment_field.id, item) for item in items]
            except (UploadRefused, OSError) as refused:
                raise PermanentPushError(f"{attachment_field.name}: {refused}") from refused
        return found

    def _resolve_links(self, cur: Cursor, base: BaseSpec, linked_table_id: str | None, value: Any) -> Any:
        """Link targets the app wrote as Postgres row ids become Airtable ids (or the change waits for them)."""
        if not value:
            return value
        wanted = [item for item in value if _as_uuid(item) is not None]
        if not wanted:
            return value
        target = base.table_by_id(linked_table_id or "")
        if target is None:
            raise PermanentPushError(f"a link names Postgres ids but links to {linked_table_id}, not in the spec")
        known = outbound_rows.airtable_ids(cur, base, target, wanted)
        missing = [item for item in wanted if not known.get(item)]
        if missing:
            raise _Deferred(f"waiting for {target.key} rows {', '.join(missing)} to reach Airtable (parents first)")
        return [known.get(item, item) for item in value]

    # -- sending and answers ---------------------------------------------------------------------------

    def _send(self, base: BaseSpec, table: TableSpec, pushes: list[_Push], key_field: str, report: PushReport) -> None:
        report.requests += 1
        try:
            if pushes[0].record is not None:
                answer = airtable_outbound.upsert_records(
                    self.api, base.id, table.id, [p.record for p in pushes], key_field, typecast=table.typecast
                )
            else:
                airtable_outbound.delete_records(self.api, base.id, table.id, [p.airtable_id for p in pushes])
                answer = None
        except AirtableError as error:
            self._failed(base, table, pushes, key_field, error, report)
            return
        if answer is not None and any(p.uploads for p in pushes):
            pushes, answer = self._upload_files(base, table, pushes, answer, key_field, report)
            if not pushes:
                return
        with transaction(self.db) as cur:
            if self._after_answer is not None:
                self._after_answer()
            if answer is None:
                self._deleted(cur, table, pushes, report)
            else:
                self._written_back(cur, base, table, pushes, answer, report)
        now = datetime.now(UTC)
        report.lag_seconds += [(now - p.item.changed_at).total_seconds() for p in pushes]

    def _upload_files(
        self,
        base: BaseSpec,
        table: TableSpec,
        pushes: list[_Push],
        answer: list[dict[str, Any]],
        key_field: str,
        report: PushReport,
    ) -> tuple[list[_Push], list[dict[str, Any]]]:
        """Each written record's files, appended one upload at a time; the pushes whose uploads all went, with
        Airtable's records as they now are. A push whose upload failed is retried or dead-lettered alone: its
        next attempt writes the record's cell again (dropping what was appended) before uploading again."""
        done: list[tuple[_Push, dict[str, Any]]] = []
        for push, record in zip(pushes, answer, strict=True):
            try:
                for item in push.uploads:
                    report.requests += 1
                    uploaded = upload(self.api, base.id, table.id, record["id"], item)
                    record.setdefault("fields", {})[item.field_id] = uploaded["fields"][item.field_id]
            except AirtableError as error:
                self._failed(base, table, [push], key_field, error, report)
                continue
            except UploadRefused as refused:  # the file went away (or grew) since the change was prepared
                with transaction(self.db) as cur:
                    self._dead_letter(cur, push, f"upload: {refused}", report)
                continue
            # What the pusher sent is now Airtable's objects for the uploaded files: their echo is not an edit.
            columns = self._converter(base, table).row(record)[0].columns
            for column in {f.column for f in table.fields.values() if f.id in {i.field_id for i in push.uploads}}:
                (push.snapshot or {})[column] = comparable(columns.get(column))
            done.append((push, record))
        return [push for push, _ in done], [record for _, record in done]

    def _deleted(self, cur: Cursor, table: TableSpec, pushes: list[_Push], report: PushReport) -> None:
        for push in pushes:
            outbox.lock_version(cur, push.item.id)
            outbox.mark_pushed(cur, push.item, push.airtable_id, None)
        report.count(table, "deleted", len(pushes))

    def _written_back(
        self,
        cur: Cursor,
        base: BaseSpec,
        table: TableSpec,
        pushes: list[_Push],
        answer: list[dict[str, Any]],
        report: PushReport,
    ) -> None:
        outbox.mark_sync_origin(cur)
        # The row first, then its outbox item: the order the app's write and its trigger take them (no deadlock).
        outbound_rows.lock_rows(cur, base, table, [p.item.row_id for p in pushes])
        unchanged: list[dict[str, Any]] = []
        for push, record in zip(pushes, answer, strict=True):
            version = outbox.lock_version(cur, push.item.id)
            outbound_rows.set_airtable_id(cur, base, table, push.item.row_id, record["id"])
            if version == push.item.version:
                unchanged.append(record)
            outbox.mark_pushed(cur, push.item, record["id"], push.snapshot)
            report.count(table, "updated" if "id" in (push.record or {}) else "created")
        if unchanged:  # Airtable's values, computed ones included; a row the app changed meanwhile waits its turn
            page = self._converter(base, table).page(unchanged)
            self._writer(base, table).upsert(cur, page.rows, SOURCE, guarded=False)

    def _failed(
        self,
        base: BaseSpec,
        table: TableSpec,
        pushes: list[_Push],
        key_field: str,
        error: AirtableError,
        report: PushReport,
    ) -> None:
        if error.permanent and len(pushes) > 1 and self.config.split_refused:  # find the bad one: the others go on
            for push in pushes:
                self._send(base, table, [push], key_field, report)
            return
        message = describe_error(error)
        with transaction(self.db) as cur:
            for push in pushes:
                attempts = push.item.attempts + 1
                if error.permanent or attempts >= self.config.max_attempts:
                    self._dead_letter(cur, push, message, report)
                    if error.permanent:
                        report.refused[push.item.row_id] = error
                else:
                    outbox.retry_later(cur, push.item, message, self._backoff(attempts))
                    report.retried += 1
        log.warning("push of %d %s change(s) failed: %s", len(pushes), table.key, message)

    def _dead_letter(self, cur: Cursor, push: _Push, error: str, report: PushReport) -> None:
        payload = {"table": push.table.key, "record": push.record, "airtable_id": push.airtable_id}
        if outbox.move_to_dead_letters(cur, push.item, error, payload) is not None:
            report.dead_lettered += 1

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.config.backoff_max_seconds, self.config.backoff_seconds * 2 ** (attempts - 1))
        return self._random.uniform(ceiling / 2, ceiling)  # jitter: many failing items must not retry in step

    def _writer(self, base: BaseSpec, table: TableSpec) -> MirrorWriter:
        key = (base.key, table.key)
        if key not in self._writers:
            self._writers[key] = MirrorWriter(self.db, base, table)
        return self._writers[key]

    def _converter(self, base: BaseSpec, table: TableSpec) -> RecordConverter:
        key = (base.key, table.key)
        if key not in self._converters:
            self._converters[key] = RecordConverter(table)
        return self._converters[key]


def follow_all(
    pushers: Sequence[OutboundPusher],
    database_url: str,
    stop: threading.Event,
    *,
    interval: float = 5.0,
    on_pushed: Callable[[PushReport], None] | None = None,
) -> None:
    """Several pushers at once (each with its own client): requests overlap Airtable's latency.

    One pusher waits for each answer before the next request, which at 300 ms reaches ~3 of the base's 5 requests
    per second; leases keep them from taking the same item, and the shared bucket keeps them under the limit.
    """
    threads = [
        threading.Thread(
            target=pusher.follow,
            args=(database_url, stop),
            kwargs={"interval": interval, "on_pushed": on_pushed},
            name=f"outbound-pusher-{n}",
            daemon=True,
        )
        for n, pusher in enumerate(pushers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class _Deferred(Exception):
    """The change cannot go yet (a linked parent is not in Airtable); not a failed attempt."""


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) and len(value) == 36 else None
    except ValueError:
        return None


def wait_until_pushed(db: sa.Engine, timeout: float, poll: float = 0.05) -> bool:
    """Whether the outbox has no pending item within ``timeout`` seconds (tests, the benchmark)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(db) as cur:
            if outbox.pending_count(cur) == 0:
                return True
        time.sleep(poll)
    return False


__all__: Sequence[str] = ["OutboundConfig", "OutboundPusher", "PushReport", "follow_all", "wait_until_pushed"]
