"""Listing records: server-side iterators behind ``itr…/rec…`` offsets, filters and sorts."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import airtable_formula as formulas
from airtable_formula.ordering import sort_key
from airtable_sandbox.http import ApiError, unprocessable
from airtable_sandbox.store.cells import new_id
from airtable_sandbox.store.record_view import RecordView

if TYPE_CHECKING:
    from airtable_sandbox.store.state import StoreState
    from airtable_sandbox.store.tables import Base, Table


ITERATOR_IDLE_SECONDS = 600.0
MAX_LIVE_ITERATORS = 1000  # beyond this the least recently used listing is forgotten (its client restarts)


_OFFSET_PATTERN = re.compile(r"^(itr[0-9A-Za-z]{14})/(rec[0-9A-Za-z]{14})$")


@dataclass
class RecordPage:
    records: list[dict[str, Any]]  # V1 records keyed by field id
    offset: str | None


class Listings:
    """The live listings of every base: each page of a listing, and the iterators its offsets resume.

    The iterators are this module's own state (no other part of the store reads them), kept beside the
    store's state rather than in it.
    """

    def __init__(self, state: StoreState) -> None:
        self._state = state
        self._iterators: dict[str, _ListIterator] = {}
        self._lock = threading.Lock()  # the iterators of all bases; a page itself runs under its base's lock

    def page(
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
        state = self._state
        base = state.base(base_id)
        with base.lock:
            table = base.table(table_ref)
            if view is not None and table.view(view) is None:
                raise unprocessable("VIEW_NAME_NOT_FOUND", f'Could not find view "{view}" in table "{table.name}"')
            if offset:
                iterator, cursor = self._resume(base, table, offset)
            else:
                iterator = self._start(base, table, sort, filter_formula, max_records)
                cursor = _Cursor(0, 0)
            page = iterator.page(state, base, table, cursor, page_size)
            now = state.clock.now()
            records = [
                RecordView(state.collaborators, base, table, table.records[i], now).as_record(field_ids)
                for i in page.ids
            ]
            return RecordPage(records, iterator.offset_after(page.after) if page.more else None)

    def _resume(self, base: Base, table: Table, offset: str) -> tuple[_ListIterator, _Cursor]:
        match = _OFFSET_PATTERN.match(offset)
        if match is None:
            raise unprocessable("INVALID_OFFSET_VALUE", f"The value of offset {offset} is invalid")
        iterator_id, record_id = match.groups()
        now = self._state.clock.time()
        with self._lock:
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

    def _start(
        self,
        base: Base,
        table: Table,
        sort: Sequence[tuple[str, str]],
        filter_formula: str | None,
        max_records: int | None,
    ) -> _ListIterator:
        parsed = _filter(table, filter_formula) if filter_formula else None
        sort_fields = [(_sort_field(table, ref), direction) for ref, direction in sort]
        candidates = table.order
        limit = len(candidates)
        if sort_fields:
            matched = _sorted_ids(self._state, base, table, parsed, sort_fields)
            parsed, candidates, limit = None, matched, len(matched)
        iterator = _ListIterator(new_id("itr"), base.id, table.id, candidates, limit, parsed, max_records)
        iterator.last_used = self._state.clock.time()
        with self._lock:
            self._expire()
            self._iterators[iterator.id] = iterator
        return iterator

    def _expire(self) -> None:
        """Forget idle listings, and the least recently used beyond the cap; caller holds the lock."""
        now = self._state.clock.time()
        for iterator_id in [i for i, it in self._iterators.items() if now - it.last_used > ITERATOR_IDLE_SECONDS]:
            del self._iterators[iterator_id]
        while len(self._iterators) >= MAX_LIVE_ITERATORS:
            del self._iterators[min(self._iterators.values(), key=lambda it: it.last_used).id]


def _sorted_ids(
    state: StoreState, base: Base, table: Table, parsed: formulas.Formula | None, sort_fields: list[tuple[str, str]]
) -> list[str]:
    """Matching ids in sort order, computed once when the listing starts (keys only, no views kept)."""
    now = state.clock.now()
    rows: list[tuple[str, list[tuple[int, Any]]]] = []
    for record_id in table.order:
        record = table.records.get(record_id)
        if record is None:
            continue
        view = RecordView(state.collaborators, base, table, record, now)
        if parsed is None or _matches(parsed, view, now):
            rows.append((record_id, [sort_key(view.value(field_id)) for field_id, _ in sort_fields]))
    for position in reversed(range(len(sort_fields))):  # stable sorts, least significant key first
        rows.sort(key=lambda row, p=position: row[1][p], reverse=sort_fields[position][1] == "desc")
    return [record_id for record_id, _ in rows]


def _filter(table: Table, source: str) -> formulas.Formula:
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


def _sort_field(table: Table, ref: str) -> str:
    field_schema = table.field(ref)
    if field_schema is None:
        raise unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{ref}"')
    return field_schema["id"]


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

    def page(self, state: StoreState, base: Base, table: Table, cursor: _Cursor, page_size: int) -> _Page:
        """The page after ``cursor``; positions count the sequence (deleted ids included) so retries line up."""
        wanted = page_size if self.max_records is None else min(page_size, self.max_records - cursor.returned)
        if wanted <= 0:
            return _Page([], cursor, more=False)
        if self.filter is None:
            ids, position = self._collect_live(table, cursor.position, wanted)
            more = self._has_live_after(table, position)
        else:
            self._scan(state, base, table, cursor.position + wanted + 1)
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

    def _scan(self, state: StoreState, base: Base, table: Table, wanted: int) -> None:
        assert self.matched is not None and self.filter is not None
        now = state.clock.now()
        while len(self.matched) < wanted and self.scan_pos < self.limit:
            record = table.records.get(self.candidates[self.scan_pos])
            self.scan_pos += 1
            if record is not None and _matches(
                self.filter, RecordView(state.collaborators, base, table, record, now), now
            ):
                self.matched.append(record.id)
