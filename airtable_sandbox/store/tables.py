"""Bases, tables and compactly stored records, with the merge-key indexes upserts use."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import airtable_formula as formulas
from airtable_sandbox.http import ApiError
from airtable_sandbox.store.cells import COMPACT_JSON, is_stored

if TYPE_CHECKING:
    from airtable_sandbox.store.cells import Cells

log = logging.getLogger(__name__)

TRANSACTION_NUMBER_START = 100_000
MAX_TRANSACTION_NUMBER_STEP = 5

NOT_FOUND_MESSAGE = (
    "Invalid permissions, or the requested model was not found. Check that both your user and your token have "
    "the required permissions, and that the model names and/or ids are correct."
)


class Record:
    __slots__ = ("cells", "created", "id", "modified")

    def __init__(self, record_id: str, created: float, modified: float, cells: bytes | None) -> None:
        self.id = record_id
        self.created = created
        self.modified = modified
        self.cells = cells  # compact JSON array aligned to Table.stored_ids, trailing nulls trimmed; None = empty


class Table:
    """One table: its schema (metadata-API format, private keys included) and its records."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.records: dict[str, Record] = {}
        # Creation order, append-only; deleted ids stay until compaction so live iterators keep positions.
        self.order: list[str] = []
        self.next_autonumber = 1
        # Upsert lookups: merge-field ids → merge key → ids (a dict as an ordered set: O(1) removal).
        self.merge_indexes: dict[tuple[str, ...], dict[str, dict[str, None]]] = {}
        self.stored_ids: list[str] = []
        self._formulas: dict[str, formulas.Formula | None] = {}
        self.reindex()

    @property
    def id(self) -> str:
        return self.schema["id"]

    @property
    def name(self) -> str:
        return self.schema["name"]

    def reindex(self) -> None:
        """Rebuild lookups after a schema change; stored field slots only ever grow (old arrays stay valid)."""
        self.fields_by_id = {f["id"]: f for f in self.schema["fields"]}
        self.fields_by_name = {f["name"]: f for f in self.schema["fields"]}
        for field_schema in self.schema["fields"]:
            if is_stored(field_schema) and field_schema["id"] not in self.stored_ids:
                self.stored_ids.append(field_schema["id"])
        self._formulas.clear()

    def field(self, ref: str) -> dict[str, Any] | None:
        """A field by id or by name (ids win, as in Airtable)."""
        return self.fields_by_id.get(ref) or self.fields_by_name.get(ref)

    def view(self, ref: str) -> dict[str, Any] | None:
        return next((v for v in self.schema.get("views", []) if ref in (v["id"], v["name"])), None)

    def formula_of(self, field_id: str) -> formulas.Formula | None:
        """The parsed formula of a formula field, parsed once; ``None`` when the formula is invalid."""
        if field_id not in self._formulas:
            source = self.fields_by_id[field_id].get("options", {}).get("formula", "")
            try:
                self._formulas[field_id] = formulas.parse(source)
            except formulas.FormulaError:
                log.warning("formula of field %s does not parse: %r", field_id, source)
                self._formulas[field_id] = None
        return self._formulas[field_id]

    # -- stored cells -----------------------------------------------------------------------------------

    def decode(self, record: Record) -> Cells:
        if record.cells is None:
            return {}
        values = json.loads(record.cells)
        return {field_id: value for field_id, value in zip(self.stored_ids, values, strict=False) if value is not None}

    def encode(self, cells: Mapping[str, Any]) -> bytes | None:
        values = [cells.get(field_id) for field_id in self.stored_ids]
        while values and values[-1] is None:
            values.pop()
        return COMPACT_JSON.encode(values).encode("utf-8") if values else None

    def put_cells(self, record: Record, old: Cells, new: Cells) -> None:
        """Store ``new`` as the record's cells, keeping merge indexes (upsert) in step."""
        record.cells = self.encode(new)
        for key_fields, index in self.merge_indexes.items():
            old_key, new_key = merge_key(old, key_fields), merge_key(new, key_fields)
            if old_key != new_key:
                _index_discard(index, old_key, record.id)
                index.setdefault(new_key, {})[record.id] = None

    def rewrite_cells(self, field_id: str, convert: Callable[[Any], Any]) -> None:
        """Replace one field's stored value in every record (a schema change); ``None`` clears it."""
        for record in self.records.values():
            cells = self.decode(record)
            if field_id in cells:
                value = convert(cells[field_id])
                if value is None:
                    del cells[field_id]
                else:
                    cells[field_id] = value
                record.cells = self.encode(cells)
        self.merge_indexes.clear()

    def add_record(self, record: Record, cells: Cells) -> None:
        record.cells = self.encode(cells)  # first: a value that cannot be encoded must not leave a record behind
        self.records[record.id] = record
        self.order.append(record.id)
        for key_fields, index in self.merge_indexes.items():
            index.setdefault(merge_key(cells, key_fields), {})[record.id] = None

    def remove_record(self, record: Record, cells: Cells) -> None:
        del self.records[record.id]
        for key_fields, index in self.merge_indexes.items():
            _index_discard(index, merge_key(cells, key_fields), record.id)
        if len(self.order) > 2 * len(self.records) + 1024:
            # A new list, so iterators holding the old one keep their positions.
            self.order = [record_id for record_id in self.order if record_id in self.records]

    def merge_index(self, key_fields: tuple[str, ...]) -> dict[str, dict[str, None]]:
        """An index from merge-key to record ids for upserts, built on first use and maintained after."""
        if key_fields not in self.merge_indexes:
            index: dict[str, dict[str, None]] = {}
            for record in self.records.values():
                index.setdefault(merge_key(self.decode(record), key_fields), {})[record.id] = None
            self.merge_indexes[key_fields] = index
        return self.merge_indexes[key_fields]


def merge_key(cells: Cells, key_fields: tuple[str, ...]) -> str:
    return COMPACT_JSON.encode([cells.get(field_id) for field_id in key_fields])


def _index_discard(index: dict[str, dict[str, None]], key: str, record_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.pop(record_id, None)
        if not ids:
            del index[key]


class Base:
    def __init__(self, base_id: str, name: str, tables: list[dict[str, Any]]) -> None:
        self.id = base_id
        self.name = name
        self.tables: dict[str, Table] = {}
        for table_schema in tables:
            table = Table(table_schema)
            self.tables[table.id] = table
        self.lock = threading.RLock()
        # Airtable's numbers are base-wide and large, and a client sees gaps in them (changes no webhook reports,
        # e.g. to views or comments, take numbers too). Starting large and skipping at random keeps a consumer
        # from mistaking them for payload numbers or expecting them to be consecutive.
        self._transaction_numbers = random.Random()
        self.transaction_number = self._transaction_numbers.randint(
            TRANSACTION_NUMBER_START, 10 * TRANSACTION_NUMBER_START
        )
        # Inverse link values seeded before their target record was loaded: table → field → record → ids.
        self.pending_inverse: dict[str, dict[str, dict[str, list[str]]]] = {}

    def next_transaction_number(self) -> int:
        """The number of the transaction being committed; caller holds the base lock."""
        self.transaction_number += self._transaction_numbers.randint(1, MAX_TRANSACTION_NUMBER_STEP)
        return self.transaction_number

    def table(self, ref: str) -> Table:
        table = self.tables.get(ref) or next((t for t in self.tables.values() if t.name == ref), None)
        if table is None:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
        return table

    def linked_table(self, link_field: Mapping[str, Any]) -> Table | None:
        return self.tables.get((link_field.get("options") or {}).get("linkedTableId", ""))
