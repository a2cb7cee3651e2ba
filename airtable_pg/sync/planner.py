"""Split one table's full scan into disjoint CREATED_TIME() ranges, so its pages can be fetched concurrently.

Airtable's list endpoint is one cursor per query: pages of the same query come strictly one after the
other. Several queries, each filtered to a range of creation times, run side by side and together return
every record exactly once:

    [a, b)  =  AND(NOT(IS_BEFORE(CREATED_TIME(), a)), IS_BEFORE(CREATED_TIME(), b))

The first range has no lower bound and the last no upper bound, so records created while the scan runs
(and any clock oddity) still land in exactly one range: the ranges are a partition by construction,
whatever the precision at which Airtable compares times, because each cut is tested by the same
``IS_BEFORE`` on both sides.

Where the cuts go, best first:

1. the mirror already holds rows → equal-count cuts from Postgres (``percentile_disc`` of
   ``airtable_created_time``): free, and as even as the data;
2. the spec has a ``createdTime`` field → two sorted requests fetch the oldest and the newest records
   (only that field); a table that fits one probe is not split, else the span is cut into equal widths,
   as many as the estimated row count needs;
3. otherwise → one unsplit scan.

About four ranges per worker let a worker that finished a small range take another, so skewed data
(growth is rarely uniform in time) still keeps every worker busy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyairtable import Table
from pyairtable.formulas import AND, CREATED_TIME, IS_BEFORE, NOT, Formula, to_formula_str

from airtable_pg.spec import TableSpec

RANGES_PER_WORKER = 4
DEFAULT_MIN_RANGE_ROWS = 1_000  # below ~10 pages per range, the extra queries cost more than they save
PAGE_SIZE = 100


@dataclass(frozen=True)
class ScanRange:
    """Records with ``start <= CREATED_TIME() < end``; ``None`` means unbounded on that side."""

    start: datetime | None = None
    end: datetime | None = None

    def formula(self) -> str | None:
        """The ``filterByFormula`` selecting this range, or ``None`` for the whole table."""
        conditions: list[Formula] = []
        if self.start is not None:
            conditions.append(NOT(IS_BEFORE(CREATED_TIME(), _utc(self.start))))
        if self.end is not None:
            conditions.append(IS_BEFORE(CREATED_TIME(), _utc(self.end)))
        if not conditions:
            return None
        return to_formula_str(conditions[0] if len(conditions) == 1 else AND(*conditions))


@dataclass(frozen=True)
class ScanPlan:
    ranges: list[ScanRange]
    strategy: str  # "mirror" | "created_time" | "unsplit"


def _utc(moment: datetime) -> datetime:
    # pyairtable writes DATETIME_PARSE('…Z') only for UTC datetimes; Postgres may hand back another offset.
    return moment.astimezone(UTC)


def ranges_from_cuts(cuts: list[datetime]) -> list[ScanRange]:
    """Consecutive ranges between sorted, distinct ``cuts``: ``(-∞, c1) [c1, c2) … [cn, ∞)``."""
    bounds: list[datetime | None] = [None, *sorted(set(cuts)), None]
    return [ScanRange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def equal_width_cuts(oldest: datetime, newest: datetime, parts: int) -> list[datetime]:
    """``parts - 1`` cuts spreading ``[oldest, newest]`` evenly, at millisecond precision (Airtable's)."""
    span = newest - oldest
    if parts < 2 or span <= timedelta(0):
        return []
    cuts = {_to_millis(oldest + span * i / parts) for i in range(1, parts)}
    return sorted(c for c in cuts if oldest < c <= newest)


def _to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def wanted_parts(workers: int) -> int:
    return max(1, workers * RANGES_PER_WORKER)


def plan_scan(
    table: TableSpec,
    *,
    workers: int,
    mirror_rows: int,
    mirror_quantiles: Callable[[int], list[datetime]],
    airtable_table: Callable[[], Table],
    min_range_rows: int = DEFAULT_MIN_RANGE_ROWS,
) -> ScanPlan:
    """Decide the ranges of one full scan.

    ``mirror_rows`` is the mirror's live row count; ``mirror_quantiles(parts)`` returns equal-count cuts of
    its ``airtable_created_time``; ``airtable_table()`` gives a pyairtable ``Table`` for the probing requests.
    """
    parts = wanted_parts(workers)
    if mirror_rows > 0:
        parts = min(parts, mirror_rows // max(min_range_rows, 1))
        cuts = mirror_quantiles(parts) if parts >= 2 else []
        if cuts:
            return ScanPlan(ranges_from_cuts(cuts), "mirror")
        return ScanPlan([ScanRange()], "unsplit")
    created_field = next((f for f in table.fields.values() if f.type == "createdTime"), None)
    if created_field is None or parts < 2:
        return ScanPlan([ScanRange()], "unsplit")
    cuts = _probe_created_time_cuts(airtable_table(), created_field.id, parts, min_range_rows)
    if not cuts:
        return ScanPlan([ScanRange()], "unsplit")
    return ScanPlan(ranges_from_cuts(cuts), "created_time")


def _probe_created_time_cuts(table: Table, field_id: str, parts: int, min_range_rows: int) -> list[datetime]:
    """Cuts from two sorted requests (the oldest and the newest records); none for a table that fits one range.

    Every range costs at least one request, and at Airtable's 5 requests/s requests are the price, so the
    number of ranges follows the table's estimated size. Each probe page (only the sort field, so it is
    light) shows how densely records were created at its end of the table; the denser end over the whole
    span estimates the row count. Leaning high is deliberate: tables usually grow, and too few ranges
    would make a big initial import crawl at one stream, while too many cost a small table a few requests.
    """
    probe = min(PAGE_SIZE, max(min_range_rows, 1))
    oldest_page = table.all(sort=[field_id], fields=[field_id], max_records=probe, page_size=probe)
    if len(oldest_page) < probe:
        return []  # the whole table fits in the probe
    newest_page = table.all(sort=[f"-{field_id}"], fields=[field_id], max_records=probe, page_size=probe)
    oldest = [datetime.fromisoformat(r["createdTime"]) for r in oldest_page]
    newest = [datetime.fromisoformat(r["createdTime"]) for r in newest_page]
    first, last = oldest[0], newest[0]
    densest_span = min((oldest[-1] - first).total_seconds(), (last - newest[-1]).total_seconds())
    if densest_span > 0:  # else a bulk import made many records in one instant: assume the table is big
        estimated_rows = probe * (last - first).total_seconds() / densest_span
        parts = min(parts, int(estimated_rows // max(min_range_rows, 1)))
    return equal_width_cuts(first, last, parts)
