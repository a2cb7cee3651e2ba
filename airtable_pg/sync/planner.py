"""Split one table's full scan into disjoint ranges of record ids, so its pages can be fetched concurrently.

Airtable's list endpoint is one cursor per query: pages of the same query come strictly one after the
other. Several queries, each filtered to a share of the table, run side by side. The share is picked by
the record id's last character:

    REGEX_MATCH(RECORD_ID(), '[0-9A-E]$')          a range claims some characters
    NOT(REGEX_MATCH(RECORD_ID(), '[0-9A-Z…]$'))     the plan's last range takes everything else

The ranges are a partition by construction: claimed character sets are disjoint, and the catch-all range
is the complement of all of them, so an id of any shape (even one outside ``[0-9A-Za-z]``) lands in exactly
one range. Airtable's record ids are random, so each character holds about 1/62 of any table, however
the table grew; creation-time ranges, by contrast, needed a ``createdTime`` field to probe and were as
uneven as the table's history. The *last* character is used because it is the most random part of any
id scheme (one with a time prefix included); an uneven split would only cost speed, never a record.

How many ranges, and where their borders go:

1. the mirror already holds rows → ``plan_from_mirror``: the live rows per last character, counted in
   Postgres, grouped into equal-count ranges (exact, and free);
2. otherwise → a **sample**: the records whose character is ``0`` (1/62 of the table) are scanned first,
   as a range of the scan like any other, so the sample costs no extra request. When it is complete, its
   row count × 62 estimates the table's size (``plan_after_sample``) and the remaining 61 characters are
   split accordingly; a table that fits in one page needs two requests in all. Waiting for the whole sample
   rather than its first page costs nothing while other tables keep the rate limit busy, and it sizes a big
   table from all of its sample: a full first page says only "at least 6,200 rows".

How many ranges: ``ceil(rows / range_rows)``, at most one per worker. Every range costs at least one request
and ends with a partial page (half a page wasted on average), so ranges should be long; but ranges progress
at the same pace (they share the rate limit's slots in turn), so one range much longer than the others
finishes alone at the end, one page per round trip — the longer the round trip, the worse. Rounding *up*
keeps every range of every table at most ``range_rows`` long (until the worker cap), so tables' ranges end
together. Of the lengths tried (800 to 2,500 rows), 1,500 was the one that did at least as well as the earlier
rule (rounded down, 1,000 rows, planned from the sample's first page) at every size from 10,000 to 100,000
records and every latency from 300 to 800 ms, in a model of this scheduler (benchmarks/scan_model.py); with
random ids, more ranges than workers would buy no balance, only partial pages.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass

ID_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
SAMPLE_CHARS = "0"
DEFAULT_RANGE_ROWS = 1_500  # rows per range; see the module docstring


@dataclass(frozen=True)
class ScanRange:
    """Records whose id's last character is in ``chars``.

    With ``catch_all``, the reverse: every record whose character is *not* in ``chars`` (the characters
    the plan's other ranges claim). ``ScanRange()`` is the whole table.
    """

    chars: str = ""
    catch_all: bool = False

    def __post_init__(self) -> None:
        if any(c not in ID_ALPHABET for c in self.chars):  # the characters go into a regex: alphanumerics only
            raise ValueError(f"record-id characters must be alphanumeric, got {self.chars!r}")

    def formula(self) -> str | None:
        """The ``filterByFormula`` selecting this range, or ``None`` for the whole table."""
        if not self.chars:
            return None
        match = f"REGEX_MATCH(RECORD_ID(), '[{self.chars}]$')"
        return f"NOT({match})" if self.catch_all else match

    def holds(self, record_id: str) -> bool:
        """Whether ``record_id`` belongs to this range (the formula's meaning, in Python)."""
        if not self.chars:
            return True
        claimed = bool(record_id) and record_id[-1] in self.chars
        return claimed != self.catch_all


WHOLE_TABLE = ScanRange()
SAMPLE = ScanRange(SAMPLE_CHARS)


def partition(groups: list[str], claimed_elsewhere: str = "") -> list[ScanRange]:
    """Ranges for disjoint character ``groups``: the last group becomes the catch-all.

    ``claimed_elsewhere`` are characters a range outside this list already scans (the sample's), which
    the catch-all must leave out too.
    """
    groups = [g for g in groups if g]
    if not groups:
        return [ScanRange(claimed_elsewhere, catch_all=True)] if claimed_elsewhere else [WHOLE_TABLE]
    claimed = "".join(groups[:-1])
    if set(claimed) & set(claimed_elsewhere):
        raise ValueError("character groups overlap the characters claimed elsewhere")
    ranges = [ScanRange(group) for group in groups[:-1]]
    catch_all_excludes = claimed_elsewhere + claimed
    ranges.append(ScanRange(catch_all_excludes, catch_all=True) if catch_all_excludes else WHOLE_TABLE)
    return ranges


def balanced_groups(weights: Mapping[str, float], chars: str, parts: int) -> list[str]:
    """Cut ``chars`` (in order) into at most ``parts`` contiguous groups of about equal total weight."""
    parts = max(1, min(parts, len(chars)))
    if parts == 1:
        return [chars]
    total = sum(max(weights.get(c, 0.0), 0.0) for c in chars)
    if total <= 0:
        return _even_groups(chars, parts)
    groups: list[str] = []
    current = ""
    running = 0.0
    for index, char in enumerate(chars):
        current += char
        running += max(weights.get(char, 0.0), 0.0)
        groups_left = parts - len(groups) - 1  # after closing this one
        chars_left = len(chars) - index - 1
        if groups_left == 0:
            continue
        # Close the group once it reached its share of the whole, or when the remaining characters are
        # just enough to give every remaining group one.
        if running >= total * (len(groups) + 1) / parts or chars_left == groups_left:
            groups.append(current)
            current = ""
    if current:
        groups.append(current)
    return groups


def _even_groups(chars: str, parts: int) -> list[str]:
    size, extra = divmod(len(chars), parts)
    groups, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        groups.append(chars[start:end])
        start = end
    return groups


def range_count(estimated_rows: float, *, workers: int, range_rows: int) -> int:
    """How many ranges a scan of ``estimated_rows`` is worth: one per ``range_rows`` begun, at most ``workers``."""
    return max(1, min(workers, math.ceil(estimated_rows / max(range_rows, 1))))


def plan_from_mirror(
    first_char_counts: Mapping[str, int], *, workers: int, range_rows: int = DEFAULT_RANGE_ROWS
) -> list[ScanRange]:
    """Ranges from the mirror's live rows per id character: equal counts, sized by the mirror's total.

    Records created since the mirror was filled have random ids too, so they spread over the ranges.
    """
    rows = sum(first_char_counts.values())
    parts = range_count(rows, workers=workers, range_rows=range_rows)
    if parts < 2:
        return [WHOLE_TABLE]
    # One pseudo-row per character keeps characters the mirror happens not to hold from being free.
    weights = {c: first_char_counts.get(c, 0) + 1.0 for c in ID_ALPHABET}
    return partition(balanced_groups(weights, ID_ALPHABET, parts))


def plan_after_sample(sample_rows: int, *, workers: int, range_rows: int = DEFAULT_RANGE_ROWS) -> list[ScanRange]:
    """The ranges for everything but the sample, split by the table's size the complete sample suggests."""
    estimate = sample_rows * len(ID_ALPHABET) / len(SAMPLE_CHARS)
    rest = "".join(c for c in ID_ALPHABET if c not in SAMPLE_CHARS)
    parts = range_count(estimate, workers=workers, range_rows=range_rows)
    return partition(_even_groups(rest, parts), claimed_elsewhere=SAMPLE_CHARS)
