"""Apply a base's webhook payloads to the mirror: the live path of the inbound sync.

A pass reads payload pages from the hook's stored cursor. Each page is applied and the cursor advanced **in
one transaction**, holding the hook's row lock (one applier per base, in any process): killed anywhere, the
next pass replays from the stored cursor and converges; a payload is never skipped. Records go through the
same converter and writer as a full sync, so a full sync after webhooks finds nothing to change.

* created records arrive whole; changed records arrive as their changed cells (``current``) plus, with the
  hook's ``includeCellValuesInFieldIds: "all"``, every other cell (``unchanged``): they are merged over the
  stored row; a changed record the mirror never saw is read from the records API instead;
* destroyed records are tombstoned;
* field and table changes are recorded as schema drift (``airtable_sync.schema_drift``) and never stop the
  pass: cells of fields the spec does not know still land in ``fields``;
* a payload that cannot be applied is rolled back to a savepoint and becomes a dead letter; the rest go on;
* an error payload (``INVALID_HOOK``) is noted on the hook, for its care to re-create it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg import Cursor
from pyairtable import Api

from airtable_pg.airtable import webhooks
from airtable_pg.airtable.api_pool import read_records
from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.airtable.escaping import escape_cell, storable, unescape_fields
from airtable_pg.airtable.payload_cells import PayloadCells, merge_cells
from airtable_pg.postgres import webhook_state
from airtable_pg.postgres.mirror_writer import MirrorWriter
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec
from airtable_pg.sync.table_sync import describe_error

log = logging.getLogger(__name__)

SOURCE = "webhook"


@dataclass
class ApplyReport:
    """What one pass did for one base."""

    base: str
    pages: int = 0
    payloads: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    restored: int = 0
    tombstoned: int = 0
    reread: int = 0  # changed records the mirror had not seen, read from the records API
    dead_letters: int = 0
    drift: int = 0
    cursor: int | None = None
    hook_error: str | None = None  # e.g. "INVALID_HOOK": the hook must be re-created
    # Per table key whose rows changed: inserted / updated / restored / tombstoned (what Dagster records).
    by_table: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def tables(self) -> set[str]:
        return set(self.by_table)

    @property
    def changed_rows(self) -> int:
        return self.inserted + self.updated + self.restored + self.tombstoned


class MalformedPayload(ValueError):
    """A payload that does not have Airtable's documented shape."""


class WebhookApplier:
    """Applies payloads of the spec's bases; thread-safe per base (the hook's row lock serializes passes)."""

    def __init__(self, spec: SyncSpec, db: sa.Engine, api: Api) -> None:
        self.spec = spec
        self.db = db
        self.api = api
        self._writers: dict[tuple[str, str], MirrorWriter] = {}
        self._converters: dict[tuple[str, str], tuple[RecordConverter, PayloadCells]] = {}

    def apply(self, base: BaseSpec) -> ApplyReport:
        """Apply every payload waiting for ``base``'s hook; a base without a hook does nothing."""
        report = ApplyReport(base.key)
        while True:
            with transaction(self.db) as cur:
                hook = webhook_state.load_webhook(cur, base.id, lock=True)
                if hook is None:
                    return report
                answered = webhook_state.latest_notification_id(cur, base.id)
                page = webhooks.payload_page(self.api, base.id, hook.webhook_id, hook.cursor)
                payloads = page.get("payloads") or []
                for payload in payloads:
                    self._apply_isolated(cur, base, payload, report)
                next_cursor = int(page.get("cursor") or hook.cursor)
                webhook_state.advance_cursor(cur, base.id, next_cursor)
                webhook_state.mark_processed(cur, base.id, answered)
                if report.hook_error:
                    webhook_state.note_error(cur, base.id, f"{webhook_state.HOOK_ERROR_PREFIX}: {report.hook_error}")
            report.pages += 1
            report.payloads += len(payloads)
            report.cursor = next_cursor
            if not page.get("mightHaveMore") or next_cursor <= hook.cursor:
                return report

    # -- one payload -----------------------------------------------------------------------------------

    def _apply_isolated(self, cur: Cursor, base: BaseSpec, payload: Any, report: ApplyReport) -> None:
        """Apply one payload under a savepoint: what fails is rolled back and dead-lettered, the page goes on."""
        cur.execute("savepoint airtable_pg_payload")
        try:
            self._apply_payload(cur, base, payload, report)
        except Exception as error:  # noqa: BLE001 - one bad payload must never stop the others
            cur.execute("rollback to savepoint airtable_pg_payload")
            # Kept as it came, unless Postgres cannot hold it (NUL, lone surrogates): then escaped, round-trippable.
            kept = payload if storable(payload) else escape_cell(payload)
            webhook_state.add_dead_letter(
                cur, direction="inbound", base_id=base.id, payload=kept, error=_storable_text(describe_error(error))
            )
            report.dead_letters += 1
            log.warning("webhook payload of base %s dead-lettered: %s", base.key, describe_error(error))
        else:
            cur.execute("release savepoint airtable_pg_payload")

    def _apply_payload(self, cur: Cursor, base: BaseSpec, payload: Any, report: ApplyReport) -> None:
        if not isinstance(payload, dict):
            raise MalformedPayload(f"a payload must be an object, got {type(payload).__name__}")
        moment = webhooks.parse_time(payload.get("timestamp"))
        if payload.get("error"):
            report.hook_error = str(payload.get("code") or "error")
        for table_id in _list(payload, "destroyedTableIds"):
            self._drift(cur, base, report, table_id, None, "table_destroyed", {})
        for table_id, created in _mapping(payload, "createdTablesById").items():
            self._drift(cur, base, report, table_id, None, "table_created", _object(created).get("metadata") or {})
            table = base.table_by_id(table_id)
            if table is not None:  # a spec'd table re-created under its old id: take its records
                self._apply_records(cur, base, table, {"createdRecordsById": _object(created).get("recordsById")},
                                    moment, report)  # fmt: skip
        for table_id, changes in _mapping(payload, "changedTablesById").items():
            changes = _object(changes)
            self._record_schema_changes(cur, base, table_id, changes, report)
            table = base.table_by_id(table_id)
            if table is not None:
                self._apply_records(cur, base, table, changes, moment, report)

    def _record_schema_changes(
        self, cur: Cursor, base: BaseSpec, table_id: str, changes: Mapping[str, Any], report: ApplyReport
    ) -> None:
        for field_id, created in _mapping(changes, "createdFieldsById").items():
            self._drift(cur, base, report, table_id, field_id, "field_created", _object(created))
        for field_id, changed in _mapping(changes, "changedFieldsById").items():
            self._drift(cur, base, report, table_id, field_id, "field_changed", _object(changed))
        for field_id in _list(changes, "destroyedFieldIds"):
            self._drift(cur, base, report, table_id, field_id, "field_destroyed", {})
        if changes.get("changedMetadata"):
            self._drift(cur, base, report, table_id, None, "table_changed", _object(changes["changedMetadata"]))

    def _drift(
        self,
        cur: Cursor,
        base: BaseSpec,
        report: ApplyReport,
        table_id: str,
        field_id: str | None,
        kind: str,
        detail: dict[str, Any],
    ) -> None:
        webhook_state.record_drift(cur, base_id=base.id, table_id=table_id, field_id=field_id, kind=kind, detail=detail)
        report.drift += 1

    def _apply_records(
        self,
        cur: Cursor,
        base: BaseSpec,
        table: TableSpec,
        changes: Mapping[str, Any],
        moment: datetime | None,
        report: ApplyReport,
    ) -> None:
        created = _mapping(changes, "createdRecordsById")
        changed = _mapping(changes, "changedRecordsById")
        destroyed = [record_id for record_id in _list(changes, "destroyedRecordIds") if isinstance(record_id, str)]
        if not (created or changed or destroyed):
            return
        writer = self._writer(base, table)
        converter, cells = self._converter(base, table)
        records: list[dict[str, Any]] = []
        for record_id, body in created.items():
            body = _object(body)
            fields = merge_cells({}, cells.to_record_cells(_cells(body)))
            records.append({"id": record_id, "createdTime": body.get("createdTime"), "fields": fields})
        stored = writer.stored_records(cur, list(changed))
        unseen: list[str] = []
        for record_id, body in changed.items():
            if record_id not in stored:
                unseen.append(record_id)
                continue
            body = _object(body)
            stored_fields, created_time = stored[record_id]
            fields = merge_cells(
                unescape_fields(stored_fields),  # as Airtable sent them: the converter escapes what it must again
                cells.to_record_cells(_cells(_object(body.get("unchanged")))),
                cells.to_record_cells(_cells(_object(body.get("current")))),
            )
            records.append({"id": record_id, "createdTime": _iso(created_time), "fields": fields})
        if unseen:
            records += read_records(self.api, base.id, table.id, unseen)
            report.reread += len(unseen)
        page = converter.page(records)
        for row in page.rows:
            row.modified_time = moment  # Airtable's time of the change: what provisioning latency is measured from
        counts, _ = writer.upsert(cur, page.rows, SOURCE)
        tombstoned = writer.tombstone(cur, destroyed, SOURCE, moment)
        report.inserted += counts.inserted
        report.updated += counts.updated
        report.unchanged += counts.unchanged
        report.restored += counts.restored
        report.tombstoned += tombstoned
        if counts.inserted or counts.updated or counts.restored or tombstoned:
            tally = report.by_table.setdefault(table.key, {"inserted": 0, "updated": 0, "restored": 0, "tombstoned": 0})
            tally["inserted"] += counts.inserted
            tally["updated"] += counts.updated
            tally["restored"] += counts.restored
            tally["tombstoned"] += tombstoned

    def _writer(self, base: BaseSpec, table: TableSpec) -> MirrorWriter:
        key = (base.key, table.key)
        if key not in self._writers:
            self._writers[key] = MirrorWriter(self.db, base, table)
        return self._writers[key]

    def _converter(self, base: BaseSpec, table: TableSpec) -> tuple[RecordConverter, PayloadCells]:
        key = (base.key, table.key)
        if key not in self._converters:
            self._converters[key] = (RecordConverter(table), PayloadCells(table))
        return self._converters[key]


def _storable_text(text: str) -> str:
    """``text`` without what a Postgres text column refuses (NUL, lone surrogates), written as escapes instead."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedPayload(f"expected an object, got {type(value).__name__}")
    return value


def _mapping(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    return _object(container.get(key))


def _list(container: Mapping[str, Any], key: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{key} must be a list, got {type(value).__name__}")
    return value


def _cells(body: Mapping[str, Any]) -> dict[str, Any]:
    return _mapping(body, "cellValuesByFieldId")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None
