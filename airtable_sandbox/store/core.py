"""The store: the sandbox's bases and everything that reads or changes their records."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airtable_sandbox.clock import Clock
from airtable_sandbox.events import Transaction
from airtable_sandbox.http import ApiError
from airtable_sandbox.store import listing, schema, seeding, writes
from airtable_sandbox.store.computed import RecordView
from airtable_sandbox.store.listing import RecordPage
from airtable_sandbox.store.seeding import SeedRecord
from airtable_sandbox.store.tables import NOT_FOUND_MESSAGE, Base
from airtable_sandbox.store.users import API_USER, UI_ACTOR, UI_USER, Actor
from airtable_sandbox.store.writes import UpsertResult

if TYPE_CHECKING:
    from airtable_sandbox.attachments import AttachmentContent
    from airtable_sandbox.store.listing import _ListIterator
    from airtable_sandbox.store.tables import Record, Table

log = logging.getLogger(__name__)

Listener = Callable[[Transaction], None]


class Store:
    """Bases of the sandbox and everything that reads or changes their records."""

    def __init__(self, clock: Clock | None = None, *, report_lookup_changes_in_other_records: bool = False) -> None:
        self.clock = clock or Clock()
        # Signs attachment URLs on every read (attachments.py); none: cells keep the URLs they were stored with.
        self.attachments: AttachmentContent | None = None
        # Whether a write reports the records whose lookups, rollups or counts it changed, besides the records it
        # wrote and their inverse links. Airtable does not document it; off by default (see docs/sandbox.md).
        self.report_lookup_changes_in_other_records = report_lookup_changes_in_other_records
        self._bases: dict[str, Base] = {}
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._users: dict[str, dict[str, str]] = {API_USER["id"]: dict(API_USER), UI_USER["id"]: dict(UI_USER)}
        self._iterators: dict[str, _ListIterator] = {}
        self._iterators_lock = threading.Lock()

    # -- bases and schema ------------------------------------------------------------------------------

    def add_base(self, base_id: str, name: str, tables: list[dict[str, Any]]) -> None:
        """Create a base from tables in metadata-API format (``_sandbox`` private keys allowed)."""
        base = Base(base_id, name, copy.deepcopy(tables))
        with self._lock:
            if base_id in self._bases:
                raise ValueError(f"base {base_id} already exists")
            self._bases[base_id] = base

    def has_base(self, base_id: str) -> bool:
        return base_id in self._bases

    def base_ids(self) -> list[str]:
        return list(self._bases)

    def base_name(self, base_id: str) -> str:
        return self.base(base_id).name

    def base(self, base_id: str) -> Base:
        base = self._bases.get(base_id)
        if base is None:
            raise ApiError(404, "NOT_FOUND", bare=True)
        return base

    def base_tables(self, base_id: str) -> list[dict[str, Any]]:
        """Every table's schema (deep copies, private keys included)."""
        base = self.base(base_id)
        with base.lock:
            return [copy.deepcopy(table.schema) for table in base.tables.values()]

    def table_schema(self, base_id: str, table_id: str) -> dict[str, Any]:
        base = self.base(base_id)
        with base.lock:
            return copy.deepcopy(base.table(table_id).schema)

    # -- users -----------------------------------------------------------------------------------------

    def register_user(self, user: Mapping[str, Any]) -> None:
        if isinstance(user.get("id"), str):
            known = self._users.setdefault(user["id"], {"id": user["id"]})
            known.update({key: user[key] for key in ("email", "name") if isinstance(user.get(key), str)})

    def find_user(self, value: Any) -> dict[str, str] | None:
        """A collaborator written as ``{"id"}``, ``{"email"}`` or a bare id/email string."""
        if isinstance(value, str):
            value = {"email": value} if "@" in value else {"id": value}
        if not isinstance(value, dict):
            return None
        if isinstance(value.get("id"), str) and value["id"].startswith("usr"):
            self.register_user(value)
            return self._users[value["id"]]
        email = value.get("email")
        return next((user for user in self._users.values() if email and user.get("email") == email), None)

    def expand_users(self, stored: Any) -> Any:
        """Stored collaborator ids → collaborator dicts ``{"id","email","name"}``."""
        if stored is None:
            return None
        if isinstance(stored, list):
            return [dict(self._users.get(user_id, {"id": user_id})) for user_id in stored] or None
        return dict(self._users.get(stored, {"id": stored}))

    # -- listeners -------------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, transaction: Transaction) -> None:
        for listener in list(self._listeners):
            try:
                listener(transaction)
            except Exception:  # a listener's bug must never undo or fail a committed write
                log.exception("store listener %r failed on transaction %s", listener, transaction.timestamp)

    # -- reads -----------------------------------------------------------------------------------------

    def read_record(self, base_id: str, table_id: str, record_id: str) -> dict[str, Any] | None:
        """The V1 record ``{"id","createdTime","fields"}`` keyed by field id, or ``None``."""
        return self._read(base_id, table_id, record_id, lambda table, view: view.as_record())

    def primary_value(self, base_id: str, table_id: str, record_id: str) -> Any:
        return self._read(base_id, table_id, record_id, lambda table, view: view.value(table.schema["primaryFieldId"]))

    def _read(self, base_id: str, table_id: str, record_id: str, read: Callable[[Any, Any], Any]) -> Any:
        """``read(table, view)`` of one record under its base's lock; ``None`` when any of the three is missing."""
        base = self._bases.get(base_id)
        if base is None:
            return None
        with base.lock:
            table = base.tables.get(table_id)
            record = table.records.get(record_id) if table else None
            if table is None or record is None:
                return None
            return read(table, self._view(base, table, record))

    def get_record(self, base_id: str, table_ref: str, record_id: str) -> tuple[str, dict[str, Any]]:
        """``(table id, record)`` for the API: looked up in the table, then base-wide as Airtable does; 403."""
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            if record_id not in table.records:
                table = next((t for t in base.tables.values() if record_id in t.records), table)
            record = table.records.get(record_id)
            if record is None:
                raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
            return table.id, self._view(base, table, record).as_record()

    def count_records(self, base_id: str, table_ref: str) -> int:
        base = self.base(base_id)
        with base.lock:
            return len(base.table(table_ref).records)

    def _view(self, base: Base, table: Table, record: Record) -> RecordView:
        return RecordView(self, base, table, record, self.clock.now())

    def add_field(
        self, base_id: str, table_ref: str, field_schema: Mapping[str, Any], *, actor: Actor = UI_ACTOR
    ) -> dict[str, Any]:
        """Add a field; returns its schema."""
        return schema.add_field(self, base_id, table_ref, field_schema, actor)

    def update_field(
        self, base_id: str, table_ref: str, field_id: str, changes: Mapping[str, Any], *, actor: Actor = UI_ACTOR
    ) -> dict[str, Any]:
        """Change a field's name, description, type or options; returns its schema."""
        return schema.update_field(self, base_id, table_ref, field_id, changes, actor)

    def delete_field(self, base_id: str, table_ref: str, field_id: str, *, actor: Actor = UI_ACTOR) -> None:
        schema.delete_field(self, base_id, table_ref, field_id, actor)

    def create_table(self, base_id: str, spec: Mapping[str, Any], *, actor: Actor = UI_ACTOR) -> dict[str, Any]:
        """Create a table ``{"name", "description"?, "fields"}``; returns its schema."""
        return schema.create_table(self, base_id, spec, actor)

    def update_table(
        self, base_id: str, table_ref: str, changes: Mapping[str, Any], *, actor: Actor = UI_ACTOR
    ) -> dict[str, Any]:
        """Rename a table or change its description; returns its schema."""
        return schema.update_table(self, base_id, table_ref, changes, actor)

    def delete_table(self, base_id: str, table_ref: str, *, actor: Actor = UI_ACTOR) -> None:
        schema.delete_table(self, base_id, table_ref, actor)

    def list_records(
        self,
        base_id: str,
        table_ref: str,
        *,
        page_size: int = 100,
        max_records: int | None = None,
        offset: str | None = None,
        view: str | None = None,
        sort: Sequence[tuple[str, str]] = (),
        filter_formula: str | None = None,
        field_ids: Sequence[str] | None = None,
    ) -> RecordPage:
        """One page of a listing. The first call starts an iterator; ``offset`` resumes it in O(page)."""
        return listing.list_page(
            self,
            base_id,
            table_ref,
            page_size=page_size,
            max_records=max_records,
            offset=offset,
            view=view,
            sort=sort,
            filter_formula=filter_formula,
            field_ids=field_ids,
        )

    def create(
        self,
        base_id: str,
        table_ref: str,
        records: Sequence[Mapping[str, Any]],
        *,
        typecast: bool = False,
        actor: Actor = UI_ACTOR,
    ) -> list[dict[str, Any]]:
        """Create records from ``{name or id: value}`` dicts; returns the V1 records in input order."""
        return writes.create_records(self, base_id, table_ref, records, typecast=typecast, actor=actor)

    def update(
        self,
        base_id: str,
        table_ref: str,
        updates: Sequence[Mapping[str, Any]],
        *,
        replace: bool = False,
        typecast: bool = False,
        actor: Actor = UI_ACTOR,
        missing_status: int = 422,
    ) -> list[dict[str, Any]]:
        """Update records from ``{"id", "fields"}`` dicts (``replace`` clears unnamed cells, like PUT)."""
        return writes.update_records(
            self,
            base_id,
            table_ref,
            updates,
            replace=replace,
            typecast=typecast,
            actor=actor,
            missing_status=missing_status,
        )

    def upsert(
        self,
        base_id: str,
        table_ref: str,
        records: Sequence[Mapping[str, Any]],
        merge_on: Sequence[str],
        *,
        replace: bool = False,
        typecast: bool = False,
        actor: Actor = UI_ACTOR,
    ) -> UpsertResult:
        """Update records matched by ``id`` or by the values of ``merge_on`` fields; create the unmatched."""
        return writes.upsert_records(
            self, base_id, table_ref, records, merge_on, replace=replace, typecast=typecast, actor=actor
        )

    def delete(
        self,
        base_id: str,
        table_ref: str,
        record_ids: Sequence[str],
        *,
        actor: Actor = UI_ACTOR,
        missing_status: int = 404,
    ) -> list[str]:
        """Delete records (and their ids from the inverse links pointing at them)."""
        return writes.delete_records(self, base_id, table_ref, record_ids, actor=actor, missing_status=missing_status)

    def load_records(self, base_id: str, table_id: str | None, seeds: Iterable[SeedRecord]) -> int:
        """Bulk-load seeded records without emitting transactions; fills inverse link sides (see ``load_seeds``)."""
        return seeding.load_seeds(self, base_id, table_id, seeds)
