"""How a full scan is split: record-id ranges that always partition the table, sized by what is known."""

from __future__ import annotations

import random

import pytest

from airtable_pg.sync.planner import (
    ID_ALPHABET,
    SAMPLE,
    WHOLE_TABLE,
    ScanRange,
    balanced_groups,
    partition,
    plan_after_sample,
    plan_from_mirror,
)

RANDOM_IDS = ["rec" + "".join(random.Random(i).choices(ID_ALPHABET, k=14)) for i in range(20_000)]
# Ids Airtable has never produced still land in exactly one range: the catch-all takes them.
ODD_IDS = ["rec", "", "rec-abcdefghijkl-", "rec000000000000é", "REC00000000000000", "rec0000000000000 "]


def owners(plan: list[ScanRange], record_id: str) -> list[int]:
    return [i for i, scan_range in enumerate(plan) if scan_range.holds(record_id)]


@pytest.mark.parametrize(
    "plan",
    [
        [WHOLE_TABLE],
        [SAMPLE, *plan_after_sample(0, workers=8, range_rows=1000)],
        [SAMPLE, *plan_after_sample(40, workers=8, range_rows=1000)],
        [SAMPLE, *plan_after_sample(100, workers=8, range_rows=1000)],
        plan_from_mirror({c: 1000 for c in ID_ALPHABET}, workers=8),
        plan_from_mirror({"a": 90_000, "b": 5}, workers=16),
    ],
)
def test_every_plan_gives_every_id_exactly_one_range(plan: list[ScanRange]) -> None:
    for record_id in RANDOM_IDS + ODD_IDS:
        assert len(owners(plan, record_id)) == 1, (record_id, plan)


def test_the_sample_sizes_the_rest_of_the_scan() -> None:
    # nothing in the sample: a small table, scanned as one more range
    assert plan_after_sample(0, workers=8, range_rows=2000) == [ScanRange("0", catch_all=True)]
    # 40 of 1/62 of the table ≈ 2,480 records: rounded up, so no range is meant to hold more than 2,000
    assert len(plan_after_sample(40, workers=8, range_rows=2000)) == 2
    # the whole sample of a big table (113 records ≈ 7,000), not just its first full page (≥ 6,200)
    assert len(plan_after_sample(113, workers=8, range_rows=2000)) == 4
    assert len(plan_after_sample(113, workers=8, range_rows=1000)) == 8  # at most one range per worker


@pytest.mark.parametrize("table_rows", [1_500, 3_000, 5_500, 7_000, 12_000])
def test_ranges_of_any_table_stay_near_the_range_length(table_rows: int) -> None:
    """Ranges progress at the same pace, so every table's ranges must be of about the same length (or the
    longest finishes alone at the end): rounding up never plans one much longer than ``range_rows``."""
    ids = RANDOM_IDS[:table_rows]
    sample_rows = sum(1 for i in ids if SAMPLE.holds(i))
    plan = plan_after_sample(sample_rows, workers=8, range_rows=2000)
    sizes = [sum(1 for i in ids if scan_range.holds(i)) for scan_range in plan]
    assert max(sizes) <= 2000 * 1.25, sizes  # the sample's estimate is off by a few percent


def test_the_mirror_splits_by_its_own_counts() -> None:
    skewed = {c: (5000 if c in "xyz" else 10) for c in ID_ALPHABET}
    plan = plan_from_mirror(skewed, workers=4, range_rows=1000)
    assert len(plan) == 4
    counts = [sum(n for c, n in skewed.items() if scan_range.holds(f"rec0000000000000{c}")) for scan_range in plan]
    assert max(counts) <= 5000 + 600  # each heavy character gets a range of its own
    assert plan_from_mirror({"a": 999}, workers=8, range_rows=1000) == [WHOLE_TABLE]


def test_balanced_groups_are_contiguous_and_cover_the_characters() -> None:
    groups = balanced_groups({"z": 100.0}, ID_ALPHABET, 4)
    assert "".join(groups) == ID_ALPHABET and groups[-1] == "z" and len(groups) == 4
    assert balanced_groups({}, "abcdef", 3) == ["ab", "cd", "ef"]


def test_a_range_formula_only_ever_holds_alphanumerics() -> None:
    assert SAMPLE.formula() == "REGEX_MATCH(RECORD_ID(), '[0]$')"
    assert ScanRange("0a", catch_all=True).formula() == "NOT(REGEX_MATCH(RECORD_ID(), '[0a]$'))"
    assert WHOLE_TABLE.formula() is None
    with pytest.raises(ValueError, match="alphanumeric"):
        ScanRange("']")
    with pytest.raises(ValueError, match="overlap"):
        partition(["ab", "c"], claimed_elsewhere="a")
