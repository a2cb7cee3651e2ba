"""Writing the state schema the way the sync would leave it, for the metrics and alert tests."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from airtable_pg.postgres.database import libpq_url
from airtable_pg.spec import load_spec

SPEC = load_spec()
BASE = next(iter(SPEC.bases.values()))
USERS = next(t for t in BASE.tables.values() if t.key == "users")
PROGRAMS = next(t for t in BASE.tables.values() if t.key == "programs")


def execute(url: str, query: str, params: tuple | dict = ()) -> list[tuple]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def apply_changes(
    url: str, table_id: str, source: str, latencies: list[float], *, ago: timedelta = timedelta()
) -> None:
    """One statement of applied changes (as a writer's batch), each ``latency`` seconds after its Airtable time."""
    rows = [
        (BASE.id, table_id, f"rec{source}{i:014d}", "created", source, latency, ago.total_seconds())
        for i, latency in enumerate(latencies)
    ]
    with psycopg.connect(libpq_url(url), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into airtable_sync.change_event (base_id, table_id, airtable_id, kind, source, source_time, "
            "applied_at) select b, t, r, k, s, now() - make_interval(secs => a + l), now() - make_interval(secs => a) "
            "from unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[]) "
            "as x(b, t, r, k, s, l, a)",
            [list(column) for column in zip(*rows, strict=True)],
        )


def synced(url: str, table_id: str, *, rows: int, ago: timedelta) -> None:
    execute(
        url,
        "insert into airtable_sync.table_state (base_id, table_id, mirror_schema, mirror_table, "
        "last_full_sync_completed_at, row_count) values (%s, %s, 'airtable', %s, now() - %s, %s)",
        (BASE.id, table_id, table_id.lower(), ago, rows),
    )


def webhook(url: str, *, expires_in: timedelta, error: str | None = None) -> None:
    execute(
        url,
        "insert into airtable_sync.webhook (base_id, webhook_id, mac_secret, specification, expires_at, last_error) "
        "values (%s, 'achTest', 'c2VjcmV0', '{}', now() + %s, %s) on conflict (base_id) do update set "
        "expires_at = excluded.expires_at, last_error = excluded.last_error",
        (BASE.id, expires_in, error),
    )


def dead_letter(url: str, direction: str = "inbound", status: str = "open") -> None:
    execute(
        url,
        "insert into airtable_sync.dead_letter (direction, base_id, table_id, payload, error, status) "
        "values (%s, %s, %s, '{}', 'boom', %s)",
        (direction, BASE.id, USERS.id, status),
    )


def waiting_notification(url: str, *, ago: timedelta) -> None:
    execute(
        url,
        "insert into airtable_sync.inbox (base_id, webhook_id, body, received_at) values (%s, 'achTest', '{}', "
        "now() - %s)",
        (BASE.id, ago),
    )
