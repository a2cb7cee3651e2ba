"""The store's one door: ``Store``, which the routes, the admin routes, the webhooks and the tests talk to.

It holds the store's state and its live listings and hands each call to the module whose job it is; it decides
nothing itself, so a rule of Airtable's is always found in the module named for it, never here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airtable_sandbox.clock import Clock
from airtable_sandbox.store import reads, schema, seeding, writes
from airtable_sandbox.store.listing import Listings, RecordPage
from airtable_sandbox.store.seeding import SeedRecord
from airtable_sandbox.store.state import Listener, StoreState
from airtable_sandbox.store.users import UI_ACTOR, Actor
from airtable_sandbox.store.writes import AddedAttachment, UpsertResult

if TYPE_CHECKING:
    from airtable_sandbox.attachments import AttachmentContent


class Store:
    """Bases of the sandbox and everything that reads or changes their records."""

    def __init__(self, clock: Clock | None = None, *, report_lookup_changes_in_other_records: bool = False) -> None:
        self.state = StoreState(clock, report_lookup_changes_in_other_records=report_lookup_changes_in_other_records)
        self._listings = Listings(self.state)

    # -- settings (kept on the state, where the modules that obey them read them) ----------------------------------

    @property
    def clock(self) -> Clock:
        return self.state.clock

    @property
    def attachments(self) -> AttachmentContent | None:
        """Signs attachment URLs on every read; set by the server that serves their content."""
        return self.state.attachments

    @attachments.setter
    def attachments(self, attachments: AttachmentContent | None) -> None:
        self.state.attachments = attachments

    @property
    def report_lookup_changes_in_other_records(self) -> bool:
        return self.state.report_lookup_changes_in_other_records

    @report_lookup_changes_in_other_records.setter
    def report_lookup_changes_in_other_records(self, report: bool) -> None:
        self.state.report_lookup_changes_in_other_records = report

    # -- bases and listeners ---------------------------------------------------------------------------------------

    def add_base(self, base_id: str, name: str, tables: list[dict[str, Any]]) -> None:
        """Create a base from tables in metadata-API format (``_sandbox`` private keys allowed)."""
        self.state.add_base(base_id, name, tables)

    def has_base(self, base_id: str) -> bool:
        return self.state.has_base(base_id)

    def base_ids(self) -> list[str]:
        return self.state.base_ids()

    def base_name(self, base_id: str) -> str:
        return self.state.base(base_id).name

    def add_listener(self, listener: Listener) -> None:
        """Called with every committed transaction, under the base's lock: it must return fast."""
        self.state.add_listener(listener)

    # -- reads -----------------------------------------------------------------------------------------------------

    def base_tables(self, base_id: str) -> list[dict[str, Any]]:
        """Every table's schema (deep copies, private keys included)."""
        return reads.base_tables(self.state, base_id)

    def table_schema(self, base_id: str, table_id: str) -> dict[str, Any]:
        return reads.table_schema(self.state, base_id, table_id)

    def read_record(self, base_id: str, table_id: str, record_id: str) -> dict[str, Any] | None:
        """The V1 record ``{"id","createdTime","fields"}`` keyed by field id, or ``None``."""
        return reads.read_record(self.state, base_id, table_id, record_id)

    def primary_value(self, base_id: str, table_id: str, record_id: str) -> Any:
        return reads.primary_value(self.state, base_id, table_id, record_id)

    def get_record(self, base_id: str, table_ref: str, record_id: str) -> tuple[str, dict[str, Any]]:
        """``(table id, record)`` for the API: looked up in the table, then base-wide as Airtable does; 403."""
        return reads.get_record(self.state, base_id, table_ref, record_id)

    def count_records(self, base_id: str, table_ref: str) -> int:
        return reads.count_records(self.state, base_id, table_ref)

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
        return self._listings.page(
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

    # -- schema changes --------------------------------------------------------------------------------------------

    def add_field(
        self, base_id: str, table_ref: str, field_schema: Mapping[str, Any], *, actor: Actor = UI_ACTOR
    ) -> dict[str, Any]:
        """Add a field; returns its schema."""
        return schema.add_field(self.state, base_id, table_ref, field_schema, actor)

    def update_field(
        self, base_id: str, table_ref: str, field_id: str, changes: Mapping[str, Any], *, actor: Actor = UI_ACTOR
    ) -> dict[str, Any]:
        """Change a field's name, description, type or options; returns its schema."""
        return schema.update_field(self.state, base_id, table_ref, field_id, changes, actor)

    def delete_field(self, base_id: str, table_ref: str, field_id: str, *, actor: Actor = UI_ACTOR) -> None:
        schema.delete_field(self.state, base_id, table_ref, field_id, actor)

    def create_table(self, base_id: str, spec: Mapping[str, Any], *, actor: Actor = UI_ACTOR) -> dict[str, Any]:
        """Create a table ``{"name", "description"?, "fields"}``; returns its schema."""
        return schema.create_table(self.state, base_id, spec, actor)

    def update_table(
        self, base_id: str, table_ref: str, changes: Mapping[str, Any], *, actor: Actor = UI_ACTOR
    ) -> dict[str, Any]:
        """Rename a table or change its description; returns its schema."""
        return schema.update_table(self.state, base_id, table_ref, changes, actor)

    def delete_table(self, base_id: str, table_ref: str, *, actor: Actor = UI_ACTOR) -> None:
        schema.delete_table(self.state, base_id, table_ref, actor)

    # -- record writes ---------------------------------------------------------------------------------------------

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
        return writes.create_records(self.state, base_id, table_ref, records, typecast=typecast, actor=actor)

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
            self.state,
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
            self.state, base_id, table_ref, records, merge_on, replace=replace, typecast=typecast, actor=actor
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
        return writes.delete_records(
            self.state, base_id, table_ref, record_ids, actor=actor, missing_status=missing_status
        )

    def add_attachment(
        self,
        base_id: str,
        record_id: str,
        field_ref: str,
        attachment: Mapping[str, Any],
        *,
        actor: Actor = UI_ACTOR,
    ) -> AddedAttachment:
        """Append an uploaded attachment object to a record's attachment cell (found in any table of the base)."""
        return writes.add_attachment(self.state, base_id, record_id, field_ref, attachment, actor=actor)

    def load_records(self, base_id: str, table_id: str | None, seeds: Iterable[SeedRecord]) -> int:
        """Bulk-load seeded records without emitting transactions; fills inverse link sides (see ``load_seeds``)."""
        return seeding.load_seeds(self.state, base_id, table_id, seeds)
