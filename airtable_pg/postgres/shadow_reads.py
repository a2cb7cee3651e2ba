"""Shadow reads' tallies and mismatches (``airtable_sync.shadow_stat``, ``shadow_mismatch``), and what is in flight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres.sync_state import state_table

STATS, MISMATCHES = state_table("shadow_stat"), state_table("shadow_mismatch")
KEPT_PER_ENTITY = 1000


@dataclass(frozen=True)
class StoredMismatch:
    at: datetime
    request: str
    record_id: str
    field_id: str | None
    airtable: Any
    postgres: Any


@dataclass(frozen=True)
class ShadowTally:
    compared: int
    mismatched: int
    in_flight: int
    errors: int
    skipped: int = 0  # reads served without a comparison (the comparison queue was full)

    @property
    def mismatch_rate(self) -> float:
        return self.mismatched / self.compared if self.compared else 0.0


def count(
    cur: Cursor, entity: str, *, compared: int, mismatched: int, in_flight: int, errors: int, skipped: int = 0
) -> None:
    cur.execute(
        sql.SQL(
            "insert into {} as s (entity, minute, compared, mismatched, in_flight, errors, skipped) "
            "values (%s, date_trunc('minute', now()), %s, %s, %s, %s, %s) on conflict (entity, minute) do update set "
            "compared = s.compared + excluded.compared, mismatched = s.mismatched + excluded.mismatched, "
            "in_flight = s.in_flight + excluded.in_flight, errors = s.errors + excluded.errors, "
            "skipped = s.skipped + excluded.skipped"
        ).format(STATS),
        (entity, compared, mismatched, in_flight, errors, skipped),
    )


def keep_mismatches(cur: Cursor, entity: str, request: str, rows: list[tuple[str, str | None, Any, Any]]) -> None:
    """Store these (record, field, Airtable's value, Postgres's), then drop the entity's oldest beyond the cap."""
    cur.executemany(
        sql.SQL(
            "insert into {} (entity, request, record_id, field_id, airtable, postgres) values (%s, %s, %s, %s, %s, %s)"
        ).format(MISMATCHES),
        [(entity, request, record_id, field_id, Jsonb(a), Jsonb(b)) for record_id, field_id, a, b in rows],
    )
    cur.execute(
        sql.SQL(
            "delete from {t} where entity = %s and id <= "
            "(select id from {t} where entity = %s order by id desc offset %s limit 1)"
        ).format(t=MISMATCHES),
        (entity, entity, KEPT_PER_ENTITY),
    )


def tally(cur: Cursor, entity: str | None, window: timedelta) -> dict[str, ShadowTally]:
    cur.execute(
        sql.SQL(
            "select entity, sum(compared), sum(mismatched), sum(in_flight), sum(errors), sum(skipped) from {} "
            "where minute > now() - %s and (%s::text is null or entity = %s) group by entity order by entity"
        ).format(STATS),
        (window, entity, entity),
    )
    return {row[0]: ShadowTally(*(int(v) for v in row[1:])) for row in cur.fetchall()}


def recent_mismatches(cur: Cursor, entity: str, window: timedelta, limit: int) -> list[StoredMismatch]:
    cur.execute(
        sql.SQL(
            "select at, request, record_id, field_id, airtable, postgres from {} where entity = %s "
            "and at > now() - %s order by id desc limit %s"
        ).format(MISMATCHES),
        (entity, window, limit),
    )
    return [StoredMismatch(*row) for row in cur.fetchall()]


def top_fields(cur: Cursor, entity: str, window: timedelta, limit: int) -> list[tuple[str, int]]:
    cur.execute(
        sql.SQL(
            "select coalesce(field_id, '(record)'), count(*) from {} where entity = %s and at > now() - %s "
            "group by 1 order by 2 desc, 1 limit %s"
        ).format(MISMATCHES),
        (entity, window, limit),
    )
    return [(field_id, int(n)) for field_id, n in cur.fetchall()]


def in_flight(cur: Cursor, base_id: str, table_id: str, record_ids: list[str], seconds: float) -> set[str]:
    """Of these records, those changed moments ago on either side: a change applied to the mirror in the last
    ``seconds``, a change of the app not yet pushed to Airtable, or any Airtable notification still waiting."""
    cur.execute(
        sql.SQL(
            "select airtable_id from {events} where base_id = %s and table_id = %s and airtable_id = any(%s) "
            "and applied_at > now() - make_interval(secs => %s) "
            "union select airtable_id from {outbox} where base_id = %s and table_id = %s and airtable_id = any(%s) "
            "and status = 'pending'"
        ).format(events=state_table("change_event"), outbox=state_table("outbox")),
        (base_id, table_id, record_ids, seconds, base_id, table_id, record_ids),
    )
    found = {row[0] for row in cur.fetchall()}
    cur.execute(
        sql.SQL("select exists (select 1 from {} where base_id = %s and processed_at is null)").format(
            state_table("inbox")
        ),
        (base_id,),
    )
    if cur.fetchone()[0]:
        return set(record_ids)  # a notification not yet applied may touch any of them
    return found
