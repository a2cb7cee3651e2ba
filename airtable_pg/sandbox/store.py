"""The sandbox's record store: bases → tables → records, with Airtable's cell rules.

Design choices that matter:

* **Compact storage.** A million records must fit in well under 2 GiB, so a record is a ``__slots__``
  object holding its id, two float timestamps and its *stored* cells as one compact JSON array (UTF-8
  bytes) aligned to the table's list of stored fields. Cells are decoded only when a record is read.
* **Computed fields at read time.** Formula, lookup, rollup, count, created/last-modified time are
  derived when a record is read (:class:`RecordView`), so they are always consistent and cost no memory.
  Values that Airtable assigns once and keeps (autoNumber, createdBy, lastModifiedBy, and a
  lastModifiedTime limited to some fields) are stored like ordinary cells but are read-only.
* **Two-way links.** Writing a link field also updates the inverse field of the linked records; that is a
  change of those records too (their lastModifiedTime moves and they appear in the transaction).
* **Listing iterators.** Resuming a listing from an ``offset`` is O(page): the iterator (its candidate id
  list, its filter scan position, the sorted id list when ``sort`` is given) lives server-side under the
  ``itr…/rec…`` offset and expires after 10 minutes of inactivity, like Airtable's.
* **One lock per base.** The HTTP server is threaded; every read or write of a base holds its ``RLock``.
  Listeners run under that lock right after a change is applied, so transactions reach them in
  ``base_transaction_number`` order; they must return fast. The webhooks service builds its payloads
  in memory inside the listener call (so a client listing payloads right after its write sees them)
  and only marks a ping as due: pings go out from the service's own delivery thread.

Errors are raised as :class:`~airtable_pg.sandbox.http.ApiError` with Airtable's types and messages,
because the store is where Airtable's validation rules live.
"""

from __future__ import annotations

import copy
import json
import logging
import mimetypes
import random
import re
import string
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airtable_pg.sandbox import formula as formulas
from airtable_pg.sandbox.clock import Clock, iso_millis
from airtable_pg.sandbox.events import ChangedRecord, CreatedRecord, TableChanges, Transaction
from airtable_pg.sandbox.http import ApiError, unprocessable

log = logging.getLogger(__name__)

Cells = dict[str, Any]
Listener = Callable[[Transaction], None]

ID_ALPHABET = string.ascii_letters + string.digits
ITERATOR_IDLE_SECONDS = 600.0
MAX_LIVE_ITERATORS = 1000  # beyond this the least recently used listing is forgotten (its client restarts)
MAX_NESTED_READS = 6  # lookups of lookups of …; Airtable forbids cycles, we just refuse to recurse forever

API_USER: dict[str, str] = {"id": "usrSandboxApi0001", "email": "api@sandbox.local", "name": "Sandbox API"}
UI_USER: dict[str, str] = {"id": "usrSandboxUi00001", "email": "staff@sandbox.local", "name": "Sandbox Staff"}

NOT_FOUND_MESSAGE = (
    "Invalid permissions, or the requested model was not found. Check that both your user and your token have "
    "the required permissions, and that the model names and/or ids are correct."
)

# Field types whose values Airtable derives; writing them is an error.
COMPUTED_TYPES = frozenset(
    {
        "formula",
        "multipleLookupValues",
        "rollup",
        "count",
        "createdTime",
        "lastModifiedTime",
        "autoNumber",
        "createdBy",
        "lastModifiedBy",
        "button",
        "aiText",
        "externalSyncSource",
    }
)
# Derived once and kept: they live in the stored cells although nobody may write them.
ASSIGNED_TYPES = frozenset({"autoNumber", "createdBy", "lastModifiedBy", "aiText", "externalSyncSource"})
TEXT_TYPES = frozenset({"singleLineText", "multilineText", "richText", "email", "url", "phoneNumber"})
NUMBER_TYPES = frozenset({"number", "currency", "percent", "duration"})
COLLABORATOR_TYPES = frozenset({"singleCollaborator", "multipleCollaborators"})

_OFFSET_PATTERN = re.compile(r"^(itr[0-9A-Za-z]{14})/(rec[0-9A-Za-z]{14})$")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def new_id(prefix: str, rng: random.Random | None = None) -> str:
    """Airtable-shaped id: 3-letter prefix + 14 alphanumerics (17 characters)."""
    return prefix + "".join((rng or random).choices(ID_ALPHABET, k=14))


def is_empty(value: Any) -> bool:
    """Airtable never stores nor returns ``""``, ``[]``, ``False`` or ``None``."""
    return value is None or value is False or value == "" or value == []


def is_error_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("error" in value or "specialValue" in value)


@dataclass(frozen=True)
class SeedRecord:
    """One record for :meth:`Store.load_records`: stored cells only, forward side of two-way links only."""

    table_id: str
    record_id: str
    created_time: float  # epoch seconds
    last_modified_time: float
    cells: dict


@dataclass(frozen=True)
class Actor:
    """Who makes a change: ``publicApi`` (a token's user) or ``client`` (a person in the Airtable UI)."""

    source: str
    user: dict[str, str]

    def transaction_user(self) -> dict[str, str]:
        return {"id": self.user["id"], "email": self.user["email"], "permissionLevel": "create"}


API_ACTOR = Actor("publicApi", API_USER)
UI_ACTOR = Actor("client", UI_USER)


@dataclass
class RecordPage:
    records: list[dict[str, Any]]  # V1 records keyed by field id
    offset: str | None


@dataclass
class UpsertResult:
    records: list[dict[str, Any]]
    created_ids: list[str]
    updated_ids: list[str]


# --------------------------------------------------------------------------------------------- records/tables


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
            if _is_stored(field_schema) and field_schema["id"] not in self.stored_ids:
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
        return _ENCODER.encode(values).encode("utf-8") if values else None

    def put_cells(self, record: Record, old: Cells, new: Cells) -> None:
        """Store ``new`` as the record's cells, keeping merge indexes (upsert) in step."""
        record.cells = self.encode(new)
        for key_fields, index in self.merge_indexes.items():
            old_key, new_key = _merge_key(old, key_fields), _merge_key(new, key_fields)
            if old_key != new_key:
                _index_discard(index, old_key, record.id)
                index.setdefault(new_key, {})[record.id] = None

    def add_record(self, record: Record, cells: Cells) -> None:
        self.records[record.id] = record
        self.order.append(record.id)
        record.cells = self.encode(cells)
        for key_fields, index in self.merge_indexes.items():
            index.setdefault(_merge_key(cells, key_fields), {})[record.id] = None

    def remove_record(self, record: Record, cells: Cells) -> None:
        del self.records[record.id]
        for key_fields, index in self.merge_indexes.items():
            _index_discard(index, _merge_key(cells, key_fields), record.id)
        if len(self.order) > 2 * len(self.records) + 1024:
            # A new list, so iterators holding the old one keep their positions.
            self.order = [record_id for record_id in self.order if record_id in self.records]

    def merge_index(self, key_fields: tuple[str, ...]) -> dict[str, dict[str, None]]:
        """An index from merge-key to record ids for upserts, built on first use and maintained after."""
        if key_fields not in self.merge_indexes:
            index: dict[str, dict[str, None]] = {}
            for record in self.records.values():
                index.setdefault(_merge_key(self.decode(record), key_fields), {})[record.id] = None
            self.merge_indexes[key_fields] = index
        return self.merge_indexes[key_fields]


def _merge_key(cells: Cells, key_fields: tuple[str, ...]) -> str:
    return _ENCODER.encode([cells.get(field_id) for field_id in key_fields])


def _index_discard(index: dict[str, dict[str, None]], key: str, record_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.pop(record_id, None)
        if not ids:
            del index[key]


def _is_stored(field_schema: Mapping[str, Any]) -> bool:
    field_type = field_schema["type"]
    if field_type in ASSIGNED_TYPES:
        return True
    if field_type == "lastModifiedTime":
        return bool(_referenced_ids(field_schema))
    return field_type not in COMPUTED_TYPES


def _referenced_ids(field_schema: Mapping[str, Any]) -> list[str]:
    return list((field_schema.get("options") or {}).get("referencedFieldIds") or [])


def _is_writable(field_schema: Mapping[str, Any]) -> bool:
    return field_schema["type"] not in COMPUTED_TYPES


class Base:
    def __init__(self, base_id: str, name: str, tables: list[dict[str, Any]]) -> None:
        self.id = base_id
        self.name = name
        self.tables: dict[str, Table] = {}
        for table_schema in tables:
            table = Table(table_schema)
            self.tables[table.id] = table
        self.lock = threading.RLock()
        self.transaction_number = 0
        # Inverse link values seeded before their target record was loaded: table → field → record → ids.
        self.pending_inverse: dict[str, dict[str, dict[str, list[str]]]] = {}

    def table(self, ref: str) -> Table:
        table = self.tables.get(ref) or next((t for t in self.tables.values() if t.name == ref), None)
        if table is None:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
        return table

    def linked_table(self, link_field: Mapping[str, Any]) -> Table | None:
        return self.tables.get((link_field.get("options") or {}).get("linkedTableId", ""))


# --------------------------------------------------------------------------------------------- reading


class RecordView:
    """One record as Airtable shows it: stored cells decoded lazily, computed cells derived on demand.

    It is also the ``RecordContext`` the formula engine evaluates against (``record_id``,
    ``created_time``, ``last_modified_time``, ``cell(name_or_id)``).
    """

    __slots__ = ("_base", "_busy", "_computed", "_depth", "_now", "_store", "_stored", "record", "table")

    def __init__(self, store: Store, base: Base, table: Table, record: Record, now: datetime, depth: int = 0) -> None:
        self._store = store
        self._base = base
        self.table = table
        self.record = record
        self._now = now
        self._depth = depth
        self._stored: Cells | None = None
        self._computed: dict[str, Any] = {}
        self._busy: set[str] = set()

    @property
    def record_id(self) -> str:
        return self.record.id

    @property
    def created_time(self) -> datetime:
        return datetime.fromtimestamp(self.record.created, tz=UTC)

    @property
    def last_modified_time(self) -> datetime:
        return datetime.fromtimestamp(self.record.modified, tz=UTC)

    def cell(self, field_ref: str) -> Any:
        field_schema = self.table.field(field_ref)
        if field_schema is None:
            raise formulas.FormulaError(f"Unknown field names: {field_ref}")
        return self.value(field_schema["id"])

    def stored(self) -> Cells:
        if self._stored is None:
            self._stored = self.table.decode(self.record)
        return self._stored

    def value(self, field_id: str) -> Any:
        """The V1 value of one field (``None`` when empty)."""
        field_schema = self.table.fields_by_id[field_id]
        field_type = field_schema["type"]
        if field_type == "multipleRecordLinks":
            return self._existing_links(field_schema)
        if field_type in COLLABORATOR_TYPES or field_type in ("createdBy", "lastModifiedBy"):
            return self._store.expand_users(self.stored().get(field_id))
        if field_type == "lastModifiedTime" and _is_stored(field_schema):  # stored as epoch seconds
            moment = self.stored().get(field_id)
            return None if moment is None else _time_value(moment, field_schema.get("options") or {})
        if _is_stored(field_schema):
            return self.stored().get(field_id)
        if field_id in self._computed:
            return self._computed[field_id]
        if field_id in self._busy:  # a reference cycle: Airtable refuses these, we answer an error value
            return {"error": "#ERROR!"}
        self._busy.add(field_id)
        try:
            result = self._compute(field_schema)
        finally:
            self._busy.discard(field_id)
        result = None if is_empty(result) else result
        self._computed[field_id] = result
        return result

    def cells(self, field_ids: Iterable[str] | None = None) -> Cells:
        ids = self.table.fields_by_id.keys() if field_ids is None else field_ids
        values = ((field_id, self.value(field_id)) for field_id in ids)
        return {field_id: value for field_id, value in values if value is not None}

    def as_record(self, field_ids: Iterable[str] | None = None) -> dict[str, Any]:
        return {"id": self.record.id, "createdTime": iso_millis(self.record.created), "fields": self.cells(field_ids)}

    # -- computed fields -------------------------------------------------------------------------------

    def _existing_links(self, field_schema: Mapping[str, Any]) -> list[str] | None:
        # A one-way link keeps ids of records deleted since; Airtable drops them, so we filter on read.
        ids = self.stored().get(field_schema["id"])
        if not ids:
            return None
        linked = self._base.linked_table(field_schema)
        if linked is None:
            return list(ids)
        present = [record_id for record_id in ids if record_id in linked.records]
        return present or None

    def _compute(self, field_schema: Mapping[str, Any]) -> Any:
        field_type = field_schema["type"]
        options = field_schema.get("options") or {}
        if field_type == "formula":
            return self._formula(field_schema["id"])
        if field_type == "multipleLookupValues":
            return self._lookup(options)
        if field_type == "rollup":
            private = field_schema.get("_sandbox") or {}
            return _rollup(self._lookup(options) or [], private.get("rollup"), (options.get("result") or {}))
        if field_type == "count":
            return len(self.value(options["recordLinkFieldId"]) or [])
        if field_type == "createdTime":
            return _time_value(self.record.created, options)
        if field_type == "lastModifiedTime":
            return _time_value(self.record.modified, options)
        if field_type == "button":
            return {"label": options["label"], "url": None} if options.get("label") else None
        return None

    def _formula(self, field_id: str) -> Any:
        parsed = self.table.formula_of(field_id)
        if parsed is None:
            return {"error": "#ERROR!"}
        try:
            return formulas.to_cell_value(parsed.evaluate(self, self._now))
        except formulas.FormulaError:
            # a field the formula references no longer exists: Airtable shows #ERROR! in the cell
            return {"error": "#ERROR!"}

    def _lookup(self, options: Mapping[str, Any]) -> list[Any] | None:
        link_id, target_id = options.get("recordLinkFieldId"), options.get("fieldIdInLinkedTable")
        link_field = self.table.fields_by_id.get(link_id or "")
        linked = self._base.linked_table(link_field) if link_field else None
        if link_field is None or linked is None or target_id not in linked.fields_by_id:
            return [{"error": "#ERROR!"}]
        if self._depth >= MAX_NESTED_READS:
            return [{"error": "#ERROR!"}]
        values: list[Any] = []
        for record_id in self.value(link_id) or []:
            other = RecordView(self._store, self._base, linked, linked.records[record_id], self._now, self._depth + 1)
            value = other.value(target_id)
            if isinstance(value, list):
                values.extend(value)
            elif value is not None:
                values.append(value)
        return values or None


def _time_value(moment: float, options: Mapping[str, Any]) -> str:
    if (options.get("result") or {}).get("type") == "date":
        return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d")
    return iso_millis(moment)


def _rollup(values: list[Any], function: str | None, result: Mapping[str, Any]) -> Any:
    """Aggregate lookup values the way the rollup's (private) function says; errors propagate."""
    numeric_result = result.get("type") in NUMBER_TYPES or result.get("type") is None
    function = (function or ("SUM" if numeric_result else "ARRAYJOIN")).upper()
    if function == "ARRAYJOIN":
        return ", ".join(_plain_text(v) for v in values)
    if function == "COUNTA":
        return len(values)
    errors = [v for v in values if is_error_value(v)]
    if errors:
        return errors[0]
    numbers = [v for v in (_as_number(v) for v in values) if v is not None]
    if function == "SUM":
        return _tidy_number(sum(numbers))
    if function in ("MAX", "MIN"):
        return _tidy_number((max if function == "MAX" else min)(numbers)) if numbers else 0
    if function == "AVERAGE":
        return _tidy_number(sum(numbers) / len(numbers)) if numbers else {"specialValue": "NaN"}
    return {"error": "#ERROR!"}


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _tidy_number(value: float) -> float | int:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _plain_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("filename") or value.get("text") or value.get("id") or value)
    if value is True:
        return "checked"
    return str(_tidy_number(value) if isinstance(value, float) else value)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Empty first, then numbers, then text (case-insensitive), then anything else by its JSON."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value.casefold())
    if isinstance(value, list) and not any(isinstance(v, dict) for v in value):
        return (2, ", ".join(_plain_text(v) for v in value).casefold())
    return (3, _ENCODER.encode(value))


# --------------------------------------------------------------------------------------------- writing


class CellWriter:
    """Validates and normalizes cells written to one table in one request, Airtable's way.

    ``typecast`` converts strings and adds unknown select options; new options are collected and only
    added to the schema by :meth:`commit` once the whole request has validated.
    """

    def __init__(self, store: Store, base: Base, table: Table, typecast: bool) -> None:
        self._store = store
        self._base = base
        self.table = table
        self.typecast = typecast
        self.new_choices: dict[str, list[str]] = {}

    def cells(self, fields: Any, current: Cells) -> Cells:
        """``{name or id: value}`` → ``{field id: normalized value or None}``; raises 422 on bad input."""
        if not isinstance(fields, dict):
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed.")
        result: Cells = {}
        for ref, value in fields.items():
            field_schema = self.table.field(ref)
            if field_schema is None:
                raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')
            if not _is_writable(field_schema):
                raise unprocessable(
                    "INVALID_VALUE_FOR_COLUMN",
                    f'Field "{field_schema["name"]}" cannot accept a value because the field is computed',
                )
            normalized = self.normalize(field_schema, value, current.get(field_schema["id"]))
            result[field_schema["id"]] = None if is_empty(normalized) else normalized
        return result

    def commit(self) -> None:
        for field_id, names in self.new_choices.items():
            choices = self.table.fields_by_id[field_id].setdefault("options", {}).setdefault("choices", [])
            for name in names:
                choices.append({"id": new_id("sel"), "name": name, "color": "grayLight2"})

    # -- per type --------------------------------------------------------------------------------------

    def normalize(self, field_schema: Mapping[str, Any], value: Any, current: Any) -> Any:
        if value is None:
            return None
        field_type = field_schema["type"]
        if field_type in TEXT_TYPES:
            return self._text(field_schema, value)
        if field_type in NUMBER_TYPES:
            return self._number(field_schema, value)
        handler = {
            "checkbox": self._checkbox,
            "rating": self._rating,
            "date": self._date,
            "dateTime": self._date_time,
            "singleSelect": self._single_select,
            "multipleSelects": self._multiple_selects,
            "multipleRecordLinks": self._links,
            "singleCollaborator": self._collaborator,
            "multipleCollaborators": self._collaborators,
            "barcode": self._barcode,
        }.get(field_type)
        if field_type == "multipleAttachments":
            return self._attachments(field_schema, value, current)
        if handler is None:
            return value  # a type we do not know (Airtable adds types): keep the value as given
        return handler(field_schema, value)

    def _reject(self, field_schema: Mapping[str, Any]) -> ApiError:
        return unprocessable(
            "INVALID_VALUE_FOR_COLUMN", f'Field "{field_schema["name"]}" cannot accept the provided value'
        )

    def _text(self, field_schema: Mapping[str, Any], value: Any) -> str:
        if isinstance(value, str):
            return value
        if self.typecast and not isinstance(value, dict):
            if isinstance(value, list):
                return ", ".join(_plain_text(v) for v in value)
            return _plain_text(value)
        raise self._reject(field_schema)

    def _number(self, field_schema: Mapping[str, Any], value: Any) -> float | int | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if self.typecast and isinstance(value, str):
            text = value.strip().replace(",", "")
            if not text:
                return None
            try:
                return _tidy_number(float(text.rstrip("%")) / (100 if text.endswith("%") else 1))
            except ValueError:
                pass
        raise self._reject(field_schema)

    def _checkbox(self, field_schema: Mapping[str, Any], value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if self.typecast and isinstance(value, str | int | float):
            return str(value).strip().lower() in {"true", "1", "yes", "y", "checked", "on"}
        raise self._reject(field_schema)

    def _rating(self, field_schema: Mapping[str, Any], value: Any) -> int | None:
        number = self._number(field_schema, value)
        maximum = int((field_schema.get("options") or {}).get("max", 5))
        if number is None or number == 0:
            return None
        if float(number).is_integer() and 1 <= number <= maximum:
            return int(number)
        raise self._reject(field_schema)

    def _date(self, field_schema: Mapping[str, Any], value: Any) -> str:
        moment = self._parse_moment(field_schema, value)
        return moment.strftime("%Y-%m-%d")

    def _date_time(self, field_schema: Mapping[str, Any], value: Any) -> str:
        return iso_millis(self._parse_moment(field_schema, value))

    def _parse_moment(self, field_schema: Mapping[str, Any], value: Any) -> datetime:
        moment = parse_moment(value, lenient=self.typecast) if isinstance(value, str) else None
        if moment is None:
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN", f'Cannot parse date value "{value}" for field {field_schema["name"]}'
            )
        return moment

    def _choice(self, field_schema: Mapping[str, Any], value: Any) -> str:
        if not isinstance(value, str):
            if not (self.typecast and isinstance(value, int | float)):
                raise self._reject(field_schema)
            value = _plain_text(value)
        choices = (field_schema.get("options") or {}).get("choices") or []
        if any(choice["name"] == value for choice in choices):
            return value
        if self.typecast:
            pending = self.new_choices.setdefault(field_schema["id"], [])
            if value not in pending:
                pending.append(value)
            return value
        raise unprocessable(
            "INVALID_MULTIPLE_CHOICE_OPTIONS", f'Insufficient permissions to create new select option ""{value}""'
        )

    def _single_select(self, field_schema: Mapping[str, Any], value: Any) -> str | None:
        return self._choice(field_schema, value) if value != "" else None

    def _multiple_selects(self, field_schema: Mapping[str, Any], value: Any) -> list[str]:
        if isinstance(value, str) and self.typecast:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise self._reject(field_schema)
        names = [self._choice(field_schema, item) for item in value]
        return list(dict.fromkeys(names))

    def _links(self, field_schema: Mapping[str, Any], value: Any) -> list[str]:
        if isinstance(value, str) and self.typecast:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise self._reject(field_schema)
        ids = [item.get("id") if isinstance(item, dict) else item for item in value]
        if not all(isinstance(record_id, str) for record_id in ids):
            raise self._reject(field_schema)
        linked = self._base.linked_table(field_schema)
        for record_id in ids:
            if linked is None or record_id not in linked.records:
                raise unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")
        return list(dict.fromkeys(ids))

    def _collaborator(self, field_schema: Mapping[str, Any], value: Any) -> str:
        user = self._store.find_user(value)
        if user is None:
            raise self._reject(field_schema)
        return user["id"]

    def _collaborators(self, field_schema: Mapping[str, Any], value: Any) -> list[str]:
        if not isinstance(value, list):
            raise self._reject(field_schema)
        return list(dict.fromkeys(self._collaborator(field_schema, item) for item in value))

    def _barcode(self, field_schema: Mapping[str, Any], value: Any) -> dict[str, Any]:
        if isinstance(value, str) and self.typecast:
            value = {"text": value}
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise self._reject(field_schema)
        return {key: value[key] for key in ("text", "type") if value.get(key) is not None}

    def _attachments(self, field_schema: Mapping[str, Any], value: Any, current: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self._reject(field_schema)
        existing = {item["id"]: item for item in current or [] if isinstance(item, dict) and "id" in item}
        result = []
        for item in value:
            if item.get("id") in existing:
                result.append(existing[item["id"]])
            elif isinstance(item.get("url"), str):
                result.append(_new_attachment(item["url"], item.get("filename")))
            else:
                raise self._reject(field_schema)
        return result


def _new_attachment(url: str, filename: str | None) -> dict[str, Any]:
    name = filename or url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "file"
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {"id": new_id("att"), "url": url, "filename": name, "size": 0, "type": content_type}


_LENIENT_DATE_FORMATS = ("%m/%d/%Y", "%Y/%m/%d", "%m/%d/%Y %H:%M", "%d %B %Y", "%B %d, %Y")


def parse_moment(text: str, *, lenient: bool = False) -> datetime | None:
    """ISO 8601 date or date-time → aware UTC datetime (naive means UTC); ``lenient`` tries a few more forms."""
    candidate = text.strip()
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        moment = None
        for fmt in _LENIENT_DATE_FORMATS if lenient else ():
            try:
                moment = datetime.strptime(candidate, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class _Write:
    table: Table
    record: Record
    cells: Cells  # field id → new value, None clears
    replace: bool = False
    is_new: bool = False


@dataclass
class _Change:
    """What one store call does, applied and reported as one transaction."""

    actor: Actor
    now: float
    writes: list[_Write] = field(default_factory=list)
    deletes: list[tuple[Table, Record]] = field(default_factory=list)
    touched: dict[tuple[str, str], Cells] = field(default_factory=dict)  # (table id, record id) → cells before


# --------------------------------------------------------------------------------------------- the store


class Store:
    """Bases of the sandbox and everything that reads or changes their records."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
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

    def add_field(self, base_id: str, table_ref: str, field_schema: Mapping[str, Any]) -> dict[str, Any]:
        """Add a field (schema drift as a person would cause it); returns its schema."""
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            name = field_schema.get("name")
            if not isinstance(name, str) or not name.strip() or not isinstance(field_schema.get("type"), str):
                raise unprocessable("INVALID_REQUEST_UNKNOWN", "A field needs a non-empty name and a type")
            if name in table.fields_by_name:
                raise unprocessable("DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field name "{name}" is already used')
            created = {"id": field_schema.get("id") or new_id("fld"), **dict(field_schema)}
            table.schema["fields"].append(created)
            table.reindex()
            return copy.deepcopy(created)

    def update_field(self, base_id: str, table_ref: str, field_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Rename a field and/or change its description."""
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            field_schema = table.fields_by_id.get(field_id)
            if field_schema is None:
                raise ApiError(404, "NOT_FOUND", f"Field {field_id} not found")
            new_name = changes.get("name", field_schema["name"])
            if new_name != field_schema["name"] and new_name in table.fields_by_name:
                raise unprocessable("DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field name "{new_name}" is already used')
            field_schema["name"] = new_name
            if "description" in changes:
                field_schema["description"] = changes["description"]
            table.reindex()
            return copy.deepcopy(field_schema)

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
        base = self._bases.get(base_id)
        if base is None:
            return None
        with base.lock:
            table = base.tables.get(table_id)
            record = table.records.get(record_id) if table else None
            if table is None or record is None:
                return None
            return self._view(base, table, record).as_record()

    def primary_value(self, base_id: str, table_id: str, record_id: str) -> Any:
        base = self._bases.get(base_id)
        if base is None:
            return None
        with base.lock:
            table = base.tables.get(table_id)
            record = table.records.get(record_id) if table else None
            if table is None or record is None:
                return None
            return self._view(base, table, record).value(table.schema["primaryFieldId"])

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

    # -- listing ---------------------------------------------------------------------------------------

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
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            if view is not None and table.view(view) is None:
                raise unprocessable("VIEW_NAME_NOT_FOUND", f'Could not find view "{view}" in table "{table.name}"')
            if offset:
                iterator, cursor = self._resume(base, table, offset)
            else:
                iterator = self._start_listing(base, table, sort, filter_formula, max_records)
                cursor = _Cursor(0, 0)
            page = iterator.page(self, base, table, cursor, page_size)
            now = self.clock.now()
            records = [RecordView(self, base, table, table.records[i], now).as_record(field_ids) for i in page.ids]
            return RecordPage(records, iterator.offset_after(page.after) if page.more else None)

    def _resume(self, base: Base, table: Table, offset: str) -> tuple[_ListIterator, _Cursor]:
        match = _OFFSET_PATTERN.match(offset)
        if match is None:
            raise unprocessable("INVALID_OFFSET_VALUE", f"The value of offset {offset} is invalid")
        iterator_id, record_id = match.groups()
        now = self.clock.time()
        with self._iterators_lock:
            iterator = self._iterators.get(iterator_id)
            if iterator is not None and now - iterator.last_used > ITERATOR_IDLE_SECONDS:
                del self._iterators[iterator_id]
                iterator = None
        if iterator is None or (iterator.base_id, iterator.table_id) != (base.id, table.id):
            raise ApiError(422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE")
        cursor = iterator.resume_at.get(record_id)
        if cursor is None:
            raise ApiError(422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE")
        iterator.last_used = now
        return iterator, cursor

    def _start_listing(
        self,
        base: Base,
        table: Table,
        sort: Sequence[tuple[str, str]],
        filter_formula: str | None,
        max_records: int | None,
    ) -> _ListIterator:
        parsed = self._filter(table, filter_formula) if filter_formula else None
        sort_fields = [(self._sort_field(table, ref), direction) for ref, direction in sort]
        candidates = table.order
        limit = len(candidates)
        if sort_fields:
            matched = self._sorted_ids(base, table, parsed, sort_fields)
            parsed, candidates, limit = None, matched, len(matched)
        iterator = _ListIterator(new_id("itr"), base.id, table.id, candidates, limit, parsed, max_records)
        iterator.last_used = self.clock.time()
        with self._iterators_lock:
            self._expire_iterators()
            self._iterators[iterator.id] = iterator
        return iterator

    def _sorted_ids(
        self, base: Base, table: Table, parsed: formulas.Formula | None, sort_fields: list[tuple[str, str]]
    ) -> list[str]:
        """Matching ids in sort order, computed once when the listing starts (keys only, no views kept)."""
        now = self.clock.now()
        rows: list[tuple[str, list[tuple[int, Any]]]] = []
        for record_id in table.order:
            record = table.records.get(record_id)
            if record is None:
                continue
            view = RecordView(self, base, table, record, now)
            if parsed is None or _matches(parsed, view, now):
                rows.append((record_id, [_sort_key(view.value(field_id)) for field_id, _ in sort_fields]))
        for position in reversed(range(len(sort_fields))):  # stable sorts, least significant key first
            rows.sort(key=lambda row, p=position: row[1][p], reverse=sort_fields[position][1] == "desc")
        return [record_id for record_id, _ in rows]

    def _expire_iterators(self) -> None:
        now = self.clock.time()
        for iterator_id in [i for i, it in self._iterators.items() if now - it.last_used > ITERATOR_IDLE_SECONDS]:
            del self._iterators[iterator_id]
        while len(self._iterators) >= MAX_LIVE_ITERATORS:
            del self._iterators[min(self._iterators.values(), key=lambda it: it.last_used).id]

    def _filter(self, table: Table, source: str) -> formulas.Formula:
        try:
            parsed = formulas.parse(source)
        except formulas.FormulaError as exc:
            raise unprocessable(
                "INVALID_FILTER_BY_FORMULA", f"The formula for filtering records is invalid: {exc}"
            ) from exc
        unknown = sorted(ref for ref in parsed.field_refs if table.field(ref) is None)
        if unknown:
            raise unprocessable(
                "INVALID_FILTER_BY_FORMULA",
                f"The formula for filtering records is invalid: Unknown field names: {', '.join(unknown)}",
            )
        return parsed

    @staticmethod
    def _sort_field(table: Table, ref: str) -> str:
        field_schema = table.field(ref)
        if field_schema is None:
            raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')
        return field_schema["id"]

    # -- writes ----------------------------------------------------------------------------------------

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
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            writer = CellWriter(self, base, table, typecast)
            change = _Change(actor, self._now())
            for fields in records:
                record = Record(self._unused_record_id(table), change.now, change.now, None)
                change.writes.append(_Write(table, record, writer.cells(fields, {}), is_new=True))
            writer.commit()
            self._commit(base, change)
            return [self._view(base, table, write.record).as_record() for write in change.writes]

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
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            writer = CellWriter(self, base, table, typecast)
            change = _Change(actor, self._now())
            for update in updates:
                record = self._existing(table, update.get("id"), missing_status)
                cells = writer.cells(update.get("fields"), table.decode(record))
                change.writes.append(_Write(table, record, cells, replace=replace))
            writer.commit()
            self._commit(base, change)
            return [self._view(base, table, write.record).as_record() for write in change.writes]

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
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            key_fields = self._merge_fields(table, merge_on)
            writer = CellWriter(self, base, table, typecast)
            change = _Change(actor, self._now())
            created: list[str] = []
            updated: list[str] = []
            new_by_key: dict[str, _Write] = {}  # records this request creates, so a repeated key updates them
            for item in records:
                write = self._upsert_write(table, writer, key_fields, item, new_by_key, change.now, replace)
                if write.is_new and write.record.id not in created:
                    created.append(write.record.id)
                elif not write.is_new:
                    updated.append(write.record.id)
                change.writes.append(write)
            writer.commit()
            self._commit(base, change)
            result = [self._view(base, table, write.record).as_record() for write in change.writes]
            return UpsertResult(result, created, updated)

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
        base = self.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            change = _Change(actor, self._now())
            for record_id in dict.fromkeys(record_ids):
                record = table.records.get(record_id)
                if record is None:
                    if missing_status == 403:
                        raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
                    raise ApiError(404, "NOT_FOUND", f'Could not find a record with ID "{record_id}".')
                change.deletes.append((table, record))
            self._commit(base, change)
            return list(record_ids)

    def _now(self) -> float:
        return round(self.clock.time(), 3)

    @staticmethod
    def _unused_record_id(table: Table) -> str:
        while True:
            record_id = new_id("rec")
            if record_id not in table.records:
                return record_id

    @staticmethod
    def _existing(table: Table, record_id: Any, missing_status: int) -> Record:
        record = table.records.get(record_id) if isinstance(record_id, str) else None
        if record is None:
            if missing_status == 403:
                raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", NOT_FOUND_MESSAGE)
            raise unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")
        return record

    @staticmethod
    def _merge_fields(table: Table, merge_on: Sequence[str]) -> tuple[str, ...]:
        if not isinstance(merge_on, list | tuple) or not 1 <= len(merge_on) <= 3:
            raise unprocessable("INVALID_REQUEST_UNKNOWN", "fieldsToMergeOn must name 1 to 3 fields")
        key_fields = []
        for ref in merge_on:
            field_schema = table.field(ref) if isinstance(ref, str) else None
            if field_schema is None:
                raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')
            if not _is_writable(field_schema):
                raise unprocessable(
                    "INVALID_VALUE_FOR_COLUMN",
                    f'Field "{field_schema["name"]}" is computed and cannot be used in fieldsToMergeOn',
                )
            key_fields.append(field_schema["id"])
        return tuple(key_fields)

    def _upsert_write(
        self,
        table: Table,
        writer: CellWriter,
        key_fields: tuple[str, ...],
        item: Mapping[str, Any],
        new_by_key: dict[str, _Write],
        now: float,
        replace: bool,
    ) -> _Write:
        if item.get("id") is not None:
            record = self._existing(table, item["id"], 422)
            return _Write(table, record, writer.cells(item.get("fields"), table.decode(record)), replace=replace)
        cells = writer.cells(item.get("fields"), {})
        key = _merge_key(cells, key_fields)
        if key in new_by_key:
            new_by_key[key].cells.update(cells)
            return new_by_key[key]
        matches = list(table.merge_index(key_fields).get(key, {}))
        if len(matches) > 1:
            raise unprocessable(
                "INVALID_VALUE_FOR_COLUMN",
                "Cannot update more than one record with the same values in fieldsToMergeOn "
                f"({len(matches)} records match)",
            )
        if matches:
            record = table.records[matches[0]]
            return _Write(table, record, writer.cells(item.get("fields"), table.decode(record)), replace=replace)
        write = _Write(table, Record(self._unused_record_id(table), now, now, None), cells, is_new=True)
        new_by_key[key] = write
        return write

    # -- applying a change -----------------------------------------------------------------------------

    def _commit(self, base: Base, change: _Change) -> None:
        """Snapshot what will change, apply, then emit one transaction (if anything changed)."""
        self._snapshot_before(base, change)
        for write in change.writes:
            self._apply_write(base, change, write)
        for table, record in change.deletes:
            self._apply_delete(base, change, table, record)
        transaction = self._transaction(base, change)
        if transaction is not None:
            self._emit(transaction)

    def _snapshot_before(self, base: Base, change: _Change) -> None:
        """Full V1 cells, before any mutation, of every existing record this change may touch."""
        now = self.clock.now()
        keys: list[tuple[Table, str]] = []
        for write in change.writes:
            if not write.is_new:
                keys.append((write.table, write.record.id))
            current = {} if write.is_new else write.table.decode(write.record)
            for field_id in write.cells.keys() | (current.keys() if write.replace else set()):
                old, new = current.get(field_id), write.cells.get(field_id)
                keys.extend(self._inverse_targets(base, write.table, field_id, old, new))
        for table, record in change.deletes:
            keys.append((table, record.id))
            cells = table.decode(record)
            for field_id, value in cells.items():
                keys.extend(self._inverse_targets(base, table, field_id, value, None))
        for table, record_id in keys:
            key = (table.id, record_id)
            if key not in change.touched and record_id in table.records:
                change.touched[key] = RecordView(self, base, table, table.records[record_id], now).cells()

    @staticmethod
    def _inverse_targets(base: Base, table: Table, field_id: str, old: Any, new: Any) -> list[tuple[Table, str]]:
        field_schema = table.fields_by_id[field_id]
        if field_schema["type"] != "multipleRecordLinks":
            return []
        inverse_id = (field_schema.get("options") or {}).get("inverseLinkFieldId")
        linked = base.linked_table(field_schema)
        if not inverse_id or linked is None:
            return []
        return [(linked, record_id) for record_id in set(old or []) ^ set(new or [])]

    def _apply_write(self, base: Base, change: _Change, write: _Write) -> None:
        table, record = write.table, write.record
        if write.is_new and record.id in table.records:
            return  # the same new record listed twice in one upsert
        old = {} if write.is_new else table.decode(record)
        new = {} if write.replace else dict(old)
        if write.replace:  # PUT clears every writable cell not named; assigned values (autoNumber…) stay
            new.update({fid: value for fid, value in old.items() if not _is_writable(table.fields_by_id[fid])})
        for field_id, value in write.cells.items():
            if value is None:
                new.pop(field_id, None)
            else:
                new[field_id] = value
        changed = {fid for fid in old.keys() | new.keys() if old.get(fid) != new.get(fid)}
        if write.is_new:
            self._assign_on_create(table, new, change)
        elif not changed:
            return
        self._stamp_modification(table, new, changed, change, is_new=write.is_new)
        record.modified = change.now
        if write.is_new:
            table.add_record(record, new)
        else:
            table.put_cells(record, old, new)
        for field_id in changed:
            self._sync_inverse(base, change, table, record.id, field_id, old.get(field_id), new.get(field_id))

    def _assign_on_create(self, table: Table, cells: Cells, change: _Change) -> None:
        for field_schema in table.schema["fields"]:
            if field_schema["type"] == "autoNumber":
                cells[field_schema["id"]] = table.next_autonumber
            elif field_schema["type"] == "createdBy":
                cells[field_schema["id"]] = change.actor.user["id"]
        if any(f["type"] == "autoNumber" for f in table.schema["fields"]):
            table.next_autonumber += 1

    def _stamp_modification(
        self, table: Table, cells: Cells, changed: set[str], change: _Change, *, is_new: bool
    ) -> None:
        """lastModifiedBy / field-limited lastModifiedTime follow changes of the fields they watch."""
        for field_schema in table.schema["fields"]:
            if field_schema["type"] not in ("lastModifiedBy", "lastModifiedTime") or not _is_stored(field_schema):
                continue
            watched = _referenced_ids(field_schema)
            if is_new:
                # A new record counts as modified by its creator, unless the watched fields are all empty.
                touched = not watched or any(cells.get(fid) is not None for fid in watched)
            else:
                touched = bool(changed & set(watched)) if watched else bool(changed)
            if not touched:
                continue
            if field_schema["type"] == "lastModifiedBy":
                cells[field_schema["id"]] = change.actor.user["id"]
            else:
                cells[field_schema["id"]] = change.now

    def _sync_inverse(
        self, base: Base, change: _Change, table: Table, record_id: str, field_id: str, old: Any, new: Any
    ) -> None:
        field_schema = table.fields_by_id[field_id]
        if field_schema["type"] != "multipleRecordLinks":
            return
        inverse_id = (field_schema.get("options") or {}).get("inverseLinkFieldId")
        linked = base.linked_table(field_schema)
        if not inverse_id or linked is None or inverse_id not in linked.fields_by_id:
            return
        old_ids, new_ids = set(old or []), set(new or [])
        for target_id in old_ids ^ new_ids:
            target = linked.records.get(target_id)
            if target is not None:
                self._set_membership(linked, target, inverse_id, record_id, target_id in new_ids, change)

    def _set_membership(
        self, table: Table, record: Record, field_id: str, member_id: str, present: bool, change: _Change
    ) -> None:
        old = table.decode(record)
        ids = list(old.get(field_id) or [])
        if (member_id in ids) == present:
            return
        ids = [*ids, member_id] if present else [i for i in ids if i != member_id]
        new = dict(old)
        if ids:
            new[field_id] = ids
        else:
            new.pop(field_id, None)
        self._stamp_modification(table, new, {field_id}, change, is_new=False)
        record.modified = change.now
        table.put_cells(record, old, new)

    def _apply_delete(self, base: Base, change: _Change, table: Table, record: Record) -> None:
        if record.id not in table.records:
            return
        cells = table.decode(record)
        table.remove_record(record, cells)
        for field_id, value in cells.items():
            self._sync_inverse(base, change, table, record.id, field_id, value, None)

    def _transaction(self, base: Base, change: _Change) -> Transaction | None:
        now = self.clock.now()
        tables: dict[str, TableChanges] = {}

        def changes_of(table_id: str) -> TableChanges:
            return tables.setdefault(table_id, TableChanges(table_id))

        created_keys: set[tuple[str, str]] = set()
        for write in change.writes:
            key = (write.table.id, write.record.id)
            if write.is_new and write.record.id in write.table.records and key not in created_keys:
                created_keys.add(key)
                cells = RecordView(self, base, write.table, write.record, now).cells()
                created = CreatedRecord(write.record.id, iso_millis(write.record.created), cells)
                changes_of(write.table.id).created.append(created)
        for table, record in change.deletes:
            changes_of(table.id).destroyed.append(record.id)
        for (table_id, record_id), before in change.touched.items():
            table = base.tables[table_id]
            record = table.records.get(record_id)
            if record is None or (table_id, record_id) in created_keys:
                continue
            after = RecordView(self, base, table, record, now).cells()
            changed = _diff(record_id, before, after)
            if changed is not None:
                changes_of(table_id).changed.append(changed)
        if not tables:
            return None
        base.transaction_number += 1
        return Transaction(
            base_id=base.id,
            base_transaction_number=base.transaction_number,
            timestamp=iso_millis(change.now),
            source=change.actor.source,
            user=change.actor.transaction_user(),
            tables=list(tables.values()),
        )

    # -- bulk seed -------------------------------------------------------------------------------------

    def load_records(self, base_id: str, table_id: str | None, seeds: Iterable[SeedRecord]) -> int:
        """Bulk-load seeded records without emitting transactions; fills inverse link sides.

        ``table_id`` restricts the seeds to one table (``None`` accepts seeds of every table of the base).
        Inverse sides whose target record is not loaded yet are kept and applied when it arrives.
        Returns the number of records loaded.
        """
        base = self.base(base_id)
        loaded = 0
        with base.lock:
            plans = {table.id: _SeedPlan(base, table, self) for table in base.tables.values()}
            for seed in seeds:
                if table_id is not None and seed.table_id != table_id:
                    raise ValueError(f"seed {seed.record_id} belongs to {seed.table_id}, not {table_id}")
                plan = plans.get(seed.table_id)
                if plan is None:
                    raise ValueError(f"seed {seed.record_id}: unknown table {seed.table_id}")
                plan.load(seed)
                loaded += 1
            for table in base.tables.values():
                table.merge_indexes.clear()
            self._apply_pending_inverse(base)
        return loaded

    def _apply_pending_inverse(self, base: Base) -> None:
        for table_id, by_field in base.pending_inverse.items():
            table = base.tables[table_id]
            for field_id, by_record in by_field.items():
                for record_id in [r for r in by_record if r in table.records]:
                    record = table.records[record_id]
                    cells = table.decode(record)
                    cells[field_id] = list(dict.fromkeys([*(cells.get(field_id) or []), *by_record.pop(record_id)]))
                    record.cells = table.encode(cells)


class _SeedPlan:
    """Per-table precomputed work for fast bulk loading."""

    def __init__(self, base: Base, table: Table, store: Store) -> None:
        self.base = base
        self.table = table
        self.store = store
        fields = table.schema["fields"]
        self.autonumber_ids = [f["id"] for f in fields if f["type"] == "autoNumber"]
        self.user_ids = [f["id"] for f in fields if f["type"] in ("createdBy", "lastModifiedBy")]
        self.collaborator_ids = [f["id"] for f in fields if f["type"] in COLLABORATOR_TYPES]
        self.stamped_ids = [f for f in fields if f["type"] == "lastModifiedTime" and _is_stored(f)]
        self.inverse = {
            f["id"]: (f["options"]["linkedTableId"], f["options"]["inverseLinkFieldId"])
            for f in fields
            if f["type"] == "multipleRecordLinks" and (f.get("options") or {}).get("inverseLinkFieldId")
        }

    def load(self, seed: SeedRecord) -> None:
        table = self.table
        cells: Cells = {}
        for ref, value in seed.cells.items():
            field_schema = table.fields_by_id.get(ref) or table.fields_by_name.get(ref)
            if field_schema is None:
                raise ValueError(f"seed {seed.record_id}: unknown field {ref!r} in table {table.name}")
            if not is_empty(value):
                cells[field_schema["id"]] = value
        for field_id in self.collaborator_ids:
            cells[field_id] = self._collaborator_ids(cells.get(field_id))
        for field_id in self.autonumber_ids:
            cells[field_id] = table.next_autonumber
        if self.autonumber_ids:
            table.next_autonumber += 1
        for field_id in self.user_ids:
            cells[field_id] = UI_USER["id"]  # seeded records were made by a person in the UI
        for field_schema in self.stamped_ids:
            if any(fid in cells for fid in _referenced_ids(field_schema)):
                cells[field_schema["id"]] = seed.last_modified_time
        for field_id, (linked_table_id, inverse_id) in self.inverse.items():
            for target_id in cells.get(field_id) or []:
                pending = self.base.pending_inverse.setdefault(linked_table_id, {}).setdefault(inverse_id, {})
                pending.setdefault(target_id, []).append(seed.record_id)
        record = Record(seed.record_id, float(seed.created_time), float(seed.last_modified_time), None)
        table.records[record.id] = record
        table.order.append(record.id)
        record.cells = table.encode(cells)

    def _collaborator_ids(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            for user in value:
                self.store.register_user(user)
            return [user["id"] for user in value]
        self.store.register_user(value)
        return value["id"]


def _diff(record_id: str, before: Cells, after: Cells) -> ChangedRecord | None:
    changed = [fid for fid in before.keys() | after.keys() if before.get(fid) != after.get(fid)]
    if not changed:
        return None
    return ChangedRecord(
        record_id=record_id,
        current={fid: after.get(fid) for fid in changed},
        previous={fid: before.get(fid) for fid in changed},
        unchanged={fid: value for fid, value in after.items() if fid not in changed},
    )


def _matches(parsed: formulas.Formula, view: RecordView, now: datetime) -> bool:
    try:
        return bool(parsed.matches(view, now))
    except formulas.FormulaError:
        return False  # a field renamed away mid-iteration: Airtable treats #ERROR! as "not included"


@dataclass(frozen=True)
class _Cursor:
    position: int  # index into the listing's sequence (candidates, or matches when filtered)
    returned: int  # records served so far (for maxRecords)


@dataclass(frozen=True)
class _Page:
    ids: list[str]
    after: _Cursor
    more: bool


class _ListIterator:
    """Server-side state of one listing, addressed by ``itr…`` in the offset."""

    __slots__ = (
        "base_id",
        "candidates",
        "filter",
        "id",
        "last_used",
        "limit",
        "matched",
        "max_records",
        "resume_at",
        "scan_pos",
        "table_id",
    )

    def __init__(
        self,
        iterator_id: str,
        base_id: str,
        table_id: str,
        candidates: list[str],
        limit: int,
        parsed_filter: formulas.Formula | None,
        max_records: int | None,
    ) -> None:
        self.id = iterator_id
        self.base_id = base_id
        self.table_id = table_id
        self.candidates = candidates  # shared with the table (append-only) or owned (sorted)
        self.limit = limit  # records created after the listing started are not part of it
        self.scan_pos = 0
        self.matched: list[str] | None = [] if parsed_filter is not None else None
        self.filter = parsed_filter
        self.max_records = max_records
        self.resume_at: dict[str, _Cursor] = {}  # last id a served page consumed → where the next page starts
        self.last_used = 0.0

    def page(self, store: Store, base: Base, table: Table, cursor: _Cursor, page_size: int) -> _Page:
        """The page after ``cursor``; positions count the sequence (deleted ids included) so retries line up."""
        wanted = page_size if self.max_records is None else min(page_size, self.max_records - cursor.returned)
        if wanted <= 0:
            return _Page([], cursor, more=False)
        if self.filter is None:
            ids, position = self._collect_live(table, cursor.position, wanted)
            more = self._has_live_after(table, position)
        else:
            self._scan(store, base, table, cursor.position + wanted + 1)
            assert self.matched is not None
            position = min(cursor.position + wanted, len(self.matched))
            ids = [i for i in self.matched[cursor.position : position] if i in table.records]
            more = len(self.matched) > position
        after = _Cursor(position, cursor.returned + len(ids))
        if self.max_records is not None and after.returned >= self.max_records:
            more = False
        return _Page(ids, after, more)

    def offset_after(self, cursor: _Cursor) -> str:
        """The ``itr…/rec…`` offset resuming after ``cursor`` (keyed by the last id it consumed)."""
        sequence = self.candidates if self.matched is None else self.matched
        last_id = sequence[cursor.position - 1]
        self.resume_at[last_id] = cursor
        return f"{self.id}/{last_id}"

    def _collect_live(self, table: Table, position: int, count: int) -> tuple[list[str], int]:
        ids: list[str] = []
        while len(ids) < count and position < self.limit:
            record_id = self.candidates[position]
            position += 1
            if record_id in table.records:  # deleted since the listing started: skipped
                ids.append(record_id)
        return ids, position

    def _has_live_after(self, table: Table, position: int) -> bool:
        # Index walk, not a slice: a slice would copy the rest of a million-id list for every page.
        return any(self.candidates[index] in table.records for index in range(position, self.limit))

    def _scan(self, store: Store, base: Base, table: Table, wanted: int) -> None:
        assert self.matched is not None and self.filter is not None
        now = store.clock.now()
        while len(self.matched) < wanted and self.scan_pos < self.limit:
            record = table.records.get(self.candidates[self.scan_pos])
            self.scan_pos += 1
            if record is not None and _matches(self.filter, RecordView(store, base, table, record, now), now):
                self.matched.append(record.id)
