"""One page of a listing: default order by key ranges, ``filterByFormula`` in bounded batches, ``sort`` in Python.

- A formula's necessary condition (:mod:`airtable_pg.api.prefilter`) is tested by Postgres first, so only rows
  that may match come back to be evaluated; ``OR(RECORD_ID()='rec…', …)`` becomes an index lookup instead of a
  scan (a rare equality still scans: no index serves a cell).
- No sort: rows stream in the default order (``airtable_created_time``, ``airtable_id``) from the offset's key, in
  batches growing from twice the page to :data:`SCAN_BATCH`; a formula is evaluated on each row by
  :mod:`airtable_formula`, the sandbox's engine, so both answer a formula alike, reading only the cells the formula
  names (the page's records are read whole, by id, once chosen). Memory is one batch; a scan that runs past
  :data:`SCAN_SECONDS` answers the matches it has with an offset where it stopped (a short page, which every client
  pages past), so no request holds a worker for long, whatever the table's size or the formula's selectivity.
- Sort: Airtable's order of cell values (:func:`airtable_formula.ordering.sort_key`) is not Postgres's collation,
  so the keys of every matching row (only the sort and formula cells are read) are sorted in Python, ties in the
  default order; the page starts after the offset's (keys, key) by bisection, so rows changed between pages shift
  nothing that was served. Cost: one pass over the table per page.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any

import airtable_formula as formulas
from airtable_formula.ordering import sort_key
from airtable_pg.api import offsets
from airtable_pg.api.errors import not_served, unknown_field, unprocessable
from airtable_pg.api.params import ListOptions
from airtable_pg.api.prefilter import necessary_condition
from airtable_pg.api.records import LastModifiedUnknown, MirrorContext, shape
from airtable_pg.api.tables import ServedTable
from airtable_pg.postgres.api_reads import MirrorRecord, records_after, records_by_id

SCAN_BATCH = 1000
SCAN_SECONDS = 5.0

Reader = Callable[[Callable[[Any], Any]], Any]  # runs a function with a database cursor


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    offset: str | None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"records": self.records}
        if self.offset:
            body["offset"] = self.offset
        return body


def parse_filter(served: ServedTable, source: str) -> formulas.Formula:
    """The parsed formula; Airtable's INVALID_FILTER_BY_FORMULA for bad text or a field the table lacks."""
    try:
        parsed = formulas.parse(source)
    except (formulas.FormulaError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, formulas.FormulaError) else "The formula is nested too deeply"
        raise _invalid_formula(message) from exc
    unknown = sorted(ref for ref in parsed.field_refs if served.field(ref) is None)
    if unknown:
        raise _invalid_formula(f"Unknown field names: {', '.join(unknown)}")
    if "LAST_MODIFIED_TIME" in parsed.functions:  # known before any row is read: no page served, then refused
        raise not_served("LAST_MODIFIED_TIME() (the mirror keeps no last-modified time per record)")
    return parsed


def _invalid_formula(reason: str) -> Exception:
    return unprocessable("INVALID_FILTER_BY_FORMULA", f"The formula for filtering records is invalid: {reason}")


class Listing:
    """One list request against one table."""

    def __init__(self, served: ServedTable, options: ListOptions, read: Reader) -> None:
        self._served = served
        self._options = options
        self._read = read
        self._field_ids = served.field_ids(options.fields) if options.fields is not None else None
        self._formula = parse_filter(served, options.formula) if options.formula else None
        self._prefilter = necessary_condition(self._formula, served) if self._formula is not None else None
        self._sort = [(self._sort_field(ref), direction == "desc") for ref, direction in options.sort]
        self._id = offsets.fingerprint(served.base.id, served.table.id, options.formula, options.sort)
        self._now = datetime.now(UTC)

    def _sort_field(self, ref: str) -> str:
        spec = self._served.field(ref)
        if spec is None:
            raise unknown_field(ref)
        return spec.id

    def page(self) -> Page:
        if self._options.offset and offsets.issued_by_airtable(self._options.offset):
            raise not_served("an offset Airtable issued (the listing's first page came from Airtable)")
        start = offsets.decode(self._id, self._options.offset) if self._options.offset else None
        returned = start.returned if start else 0
        wanted = self._options.page_size
        if self._options.max_records is not None:
            wanted = min(wanted, self._options.max_records - returned)
        if wanted <= 0:
            return Page([], None)
        if self._sort:
            chosen, after, more = self._sorted_page(start, wanted)
        else:
            chosen, after, more = self._scanned_page(start, wanted)
        returned += len(chosen)
        if self._options.max_records is not None and returned >= self._options.max_records:
            more = False
        records = [
            shape(self._served, record, by_field_id=self._options.by_field_id, field_ids=self._field_ids)
            for record in chosen
        ]
        offset = offsets.encode(self._id, _position(after, returned)) if more and after else None
        return Page(records, offset)

    # -- default order ---------------------------------------------------------------------------------

    def _scanned_page(
        self, start: offsets.Position | None, wanted: int
    ) -> tuple[list[MirrorRecord], tuple[tuple, MirrorRecord] | None, bool]:
        base, table = self._served.base, self._served.table
        after = (start.created, start.record_id) if start else None
        if self._formula is None:
            rows = self._read(lambda cur: records_after(cur, base, table, after, wanted + 1))
            chosen = rows[:wanted]
            return chosen, ((), chosen[-1]) if chosen else None, len(rows) > wanted
        # Only the cells the formula reads are read while scanning; the page's whole records come by id after.
        cells = self._formula_cells()
        matched: list[MirrorRecord] = []
        deadline = time.monotonic() + SCAN_SECONDS
        last: MirrorRecord | None = None
        more = False
        batch = min(SCAN_BATCH, 2 * (wanted + 1))  # a common filter fills its page from the first small batch
        while True:
            rows = self._read(
                lambda cur, after=after, batch=batch: records_after(
                    cur, base, table, after, batch, cells, self._prefilter
                )
            )
            for row in rows:
                if self._matches(row):
                    if len(matched) == wanted:  # one more match: there is a next page, starting after the last served
                        more = True
                        break
                    matched.append(row)
                last = row
            if more or len(rows) < batch:
                stop = matched[-1] if more and matched else None
                break
            after = rows[-1].key
            batch = min(SCAN_BATCH, batch * 2)  # a rare match: fewer, larger reads
            if time.monotonic() > deadline:  # a short page; the client's next request scans on from here
                more, stop = True, (matched[-1] if len(matched) == wanted else last)
                break
        ids = [row.id for row in matched]
        found = self._read(lambda cur: records_by_id(cur, base, table, ids)) if ids else {}
        chosen = [found[record_id] for record_id in ids if record_id in found]  # gone meanwhile: skipped
        return chosen, (((), stop) if stop is not None else None), more

    def _formula_cells(self) -> list[str]:
        assert self._formula is not None
        specs = (self._served.field(ref) for ref in self._formula.field_refs)
        return list(dict.fromkeys(spec.id for spec in specs if spec is not None))

    def _matches(self, row: MirrorRecord) -> bool:
        assert self._formula is not None
        try:
            return self._formula.matches(MirrorContext(self._served, row), self._now)
        except LastModifiedUnknown:
            raise not_served("LAST_MODIFIED_TIME() (the mirror keeps no last-modified time per record)") from None
        except formulas.FormulaError:
            return False  # as Airtable: a cell the formula cannot read makes #ERROR!, which is "not included"

    # -- sorted ----------------------------------------------------------------------------------------

    def _sorted_page(
        self, start: offsets.Position | None, wanted: int
    ) -> tuple[list[MirrorRecord], tuple[tuple, MirrorRecord] | None, bool]:
        base, table = self._served.base, self._served.table
        cells = [field_id for field_id, _ in self._sort] + (self._formula_cells() if self._formula is not None else [])
        cells = list(dict.fromkeys(cells))
        entries: list[tuple[tuple, datetime, str]] = []
        after = None
        while True:
            rows = self._read(
                lambda cur, after=after: records_after(cur, base, table, after, SCAN_BATCH, cells, self._prefilter)
            )
            for row in rows:
                if self._formula is None or self._matches(row):
                    keys = tuple(sort_key(row.fields.get(field_id)) for field_id, _ in self._sort)
                    entries.append((keys, row.created, row.id))
            if len(rows) < SCAN_BATCH:
                break
            after = rows[-1].key
        order = cmp_to_key(self._compare)
        entries.sort(key=order)
        begin = 0
        if start is not None:
            begin = bisect_right(entries, order((start.sort_keys, start.created, start.record_id)), key=order)
        chosen_ids = [entry[2] for entry in entries[begin : begin + wanted]]
        found = self._read(lambda cur: records_by_id(cur, base, table, chosen_ids))
        chosen = [found[record_id] for record_id in chosen_ids if record_id in found]  # gone meanwhile: skipped
        more = begin + wanted < len(entries)
        last = entries[begin + len(chosen_ids) - 1] if chosen_ids else None
        anchor = (last[0], MirrorRecord(last[2], last[1], {})) if last else None
        return chosen, anchor, more

    def _compare(self, a: tuple[tuple, datetime, str], b: tuple[tuple, datetime, str]) -> int:
        for (left, right), (_, descending) in zip(zip(a[0], b[0], strict=True), self._sort, strict=True):
            if left != right:
                smaller = left < right
                return (1 if smaller else -1) if descending else (-1 if smaller else 1)
        if (a[1], a[2]) == (b[1], b[2]):
            return 0
        return -1 if (a[1], a[2]) < (b[1], b[2]) else 1


def _position(after: tuple[tuple, MirrorRecord], returned: int) -> offsets.Position:
    keys, record = after
    return offsets.Position(record.created, record.id, returned, keys)
