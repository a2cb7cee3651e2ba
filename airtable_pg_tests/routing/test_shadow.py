"""Shadow reads against the real state schema: tallies, re-checks, in-flight changes, the capped mismatch log and
the cutover's shadow gate."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from airtable_pg.postgres import shadow_reads as store
from airtable_pg.postgres.database import connection_pool, libpq_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing.shadow import ShadowPolicy, ShadowReads, shadow_reads
from airtable_pg.spec import load_spec

SPEC = load_spec()
BASE = SPEC.bases["coaching"]
USERS = BASE.tables["users"]
QUICK = ShadowPolicy(recheck_seconds=0.0, min_compared=3, max_mismatch_rate=0.25)


def record(record_id: str, name: str) -> dict:
    return {"id": record_id, "createdTime": "2026-11-01T10:00:00.000Z", "fields": {"name": name}}


@pytest.fixture
def shadow(database_url: str) -> ShadowReads:
    return ShadowReads(connection_pool(database_url), SPEC, QUICK)


def tally(shadow: ShadowReads) -> store.ShadowTally:
    with transaction(shadow.db) as cur:
        return store.tally(cur, "coaching.users", timedelta(hours=1))["coaching.users"]


def test_a_difference_that_stays_is_a_mismatch_kept_with_both_values(shadow) -> None:
    same = [record("rec1", "Anna")]
    assert shadow.compare(BASE, USERS, "list", same, same, ordered=False).mismatches == 0
    stale = [record("rec1", "Ana")]
    outcome = shadow.compare(BASE, USERS, "GET users?maxRecords=1", same, stale, ordered=False,
                             refetch=lambda ids: (same, stale))  # fmt: skip
    assert (outcome.mismatches, outcome.in_flight) == (1, 0)
    assert tally(shadow) == store.ShadowTally(compared=2, mismatched=1, in_flight=0, errors=0)
    with transaction(shadow.db) as cur:
        [kept] = store.recent_mismatches(cur, "coaching.users", timedelta(hours=1), 10)
    assert (kept.request, kept.record_id, kept.airtable, kept.postgres) == (
        "GET users?maxRecords=1",
        "rec1",
        "Anna",
        "Ana",
    )
    assert kept.field_id == next(f.id for f in USERS.fields.values() if f.name == "name")


def test_a_difference_gone_on_the_recheck_or_changed_moments_ago_is_in_flight(shadow, database_url) -> None:
    airtable, lagging = [record("rec1", "Anna")], [record("rec1", "Ana")]
    settled = shadow.compare(BASE, USERS, "list", airtable, lagging, ordered=False,
                             refetch=lambda ids: (airtable, airtable))  # fmt: skip
    assert (settled.mismatches, settled.in_flight) == (0, 1)
    with psycopg.connect(libpq_url(database_url)) as conn:  # the mirror applied a change of rec2 just now
        conn.execute(
            "insert into airtable_sync.change_event (base_id, table_id, airtable_id, kind, source) "
            "values (%s, %s, 'rec2', 'updated', 'webhook')",
            (BASE.id, USERS.id),
        )
    moving = shadow.compare(BASE, USERS, "list", [record("rec2", "B")], [record("rec2", "Bo")], ordered=False,
                            refetch=lambda ids: ([record("rec2", "B")], [record("rec2", "Bo")]))  # fmt: skip
    assert (moving.mismatches, moving.in_flight) == (0, 1)
    assert tally(shadow) == store.ShadowTally(compared=2, mismatched=0, in_flight=2, errors=0)


def test_a_record_airtable_changed_between_the_read_and_the_recheck_is_in_flight(shadow) -> None:
    """Someone keeps editing it: the mirror, following, differs from each Airtable answer it is shown, but what is
    judged is whether Airtable stood still; it did not, so nothing is flagged. One that stood still is judged."""
    read, edited_again = [record("rec3", "Renamed 1")], [record("rec3", "Renamed 2")]
    following = [record("rec3", "Renamed 0")]
    outcome = shadow.compare(BASE, USERS, "list", read, following, ordered=False,
                             refetch=lambda ids: (edited_again, [record("rec3", "Renamed 1")]))  # fmt: skip
    assert (outcome.mismatches, outcome.in_flight) == (0, 1)
    still = shadow.compare(BASE, USERS, "list", read, following, ordered=False,
                           refetch=lambda ids: (read, following))  # fmt: skip
    assert (still.mismatches, still.in_flight) == (1, 0)


def test_a_mirror_that_follows_by_the_second_recheck_is_in_flight_and_one_that_does_not_is_judged(shadow) -> None:
    """Airtable holds the record still; the sync is behind by more than the first re-check's wait. Each re-check
    reads only the records that still differ; after the last one what differs is a mismatch."""
    airtable, stale, bo = [record("rec4", "Anna")], [record("rec4", "Ana")], record("rec5", "Bo")
    answers = iter([([*airtable, bo], [*stale, bo]), (airtable, airtable)])
    asked: list[list[str]] = []

    def catching_up(ids: list[str]) -> tuple[list, list]:
        asked.append(ids)
        return next(answers)

    caught_up = shadow.compare(BASE, USERS, "list", [*airtable, bo], [*stale, record("rec5", "B")], ordered=False,
                               refetch=catching_up)  # fmt: skip
    assert (caught_up.mismatches, caught_up.in_flight) == (0, 2)
    assert asked == [["rec4", "rec5"], ["rec4"]]  # rec5 matched on the first re-check: not read again
    asked.clear()

    def never(ids: list[str]) -> tuple[list, list]:
        asked.append(ids)
        return airtable, stale

    behind = shadow.compare(BASE, USERS, "list", airtable, stale, ordered=False, refetch=never)
    assert (behind.mismatches, behind.in_flight) == (1, 0)
    assert len(asked) == QUICK.rechecks == 2


def test_a_failing_shadow_read_never_reaches_the_caller(shadow) -> None:
    def broken(ids):
        raise ConnectionError("Airtable went away")

    outcome = shadow.compare(BASE, USERS, "list", [record("rec1", "A")], [record("rec1", "B")], ordered=False,
                             refetch=broken)  # fmt: skip
    assert outcome.mismatches == 0 and tally(shadow).errors == 1


def test_the_mismatch_log_keeps_the_newest_per_entity(shadow, monkeypatch) -> None:
    monkeypatch.setattr(store, "KEPT_PER_ENTITY", 3)
    for n in range(5):
        shadow.compare(BASE, USERS, f"read {n}", [record("rec1", "A")], [record("rec1", f"B{n}")], ordered=False)
    with transaction(shadow.db) as cur:
        kept = store.recent_mismatches(cur, "coaching.users", timedelta(hours=1), 10)
    assert [m.request for m in kept] == ["read 4", "read 3", "read 2"]


def test_the_shadow_gate_wants_enough_reads_and_few_mismatches(shadow) -> None:
    same = [record("rec1", "Anna")]
    shadow.compare(BASE, USERS, "list", same, same, ordered=False)
    too_few = shadow_reads(shadow.db, BASE, USERS, QUICK)
    assert not too_few.passed and too_few.reason.startswith("1 read(s) compared in the last 24 h, fewer than 3")
    for _ in range(3):
        shadow.compare(BASE, USERS, "list", same, same, ordered=False)
    assert shadow_reads(shadow.db, BASE, USERS, QUICK).passed
    for _ in range(2):
        shadow.compare(BASE, USERS, "list", same, [record("rec1", "X")], ordered=False)
    failing = shadow_reads(shadow.db, BASE, USERS, QUICK)
    assert not failing.passed and "2 of 6 compared reads differed" in failing.reason
    assert "airtable-pg shadow report coaching.users" in failing.reason
