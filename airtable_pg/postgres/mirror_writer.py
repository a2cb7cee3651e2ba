"""The one way rows get into a mirror table.

Full scans, polls and (later) webhook payloads all hand ``MirrorRow``s to ``MirrorWriter.apply``.
One statement per batch upserts on the unique ``airtable_id`` — so a record can never be inserted
twice, whatever retries or overlaps happen — and rewrites a row only when something in it changed.
Tombstones are decided only by a *completed* full scan (``finish_scan``), never by a partial one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg import sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres.schema import STATE_SCHEMA
from airtable_pg.spec import BaseSpec, TableSpec

ABANDONED_AFTER = "6 hours"


class SchemaNotReady(RuntimeError):
    """The database lacks a table or column the spec needs: migrations have not been run or generated."""


@dataclass
class MirrorRow:
    airtable_id: str
    created_time: datetime | None
    fields: dict[str, Any]  # cells keyed by field id, exactly as Airtable returned them
    columns: dict[str, Any]  # column name -> typed value
    links: dict[str, list[str]] = field(default_factory=dict)  # link field id -> linked record ids, in order
    modified_time: datetime | None = None  # when Airtable says the record last changed, if known


@dataclass
class ApplyCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    restored: int = 0

    def add(self, other: ApplyCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.restored += other.restored


def _state(name: str) -> sql.Composable:
    return sql.Identifier(STATE_SCHEMA, name)


class MirrorWriter:
    """Writes one spec table's mirror (and its join tables) through pooled connections; thread-safe."""

    def __init__(self, engine: sa.Engine, base: BaseSpec, table: TableSpec):
        self.engine = engine
        self.base = base
        self.table = table
        self.mirror = sql.Identifier(base.schema, table.mirror)
        self.columns = [f.column for f in table.fields.values()]
        self._jsonb_columns = frozenset(f.column for f in table.fields.values() if f.pg_type == "jsonb")
        self._upsert_head, self._upsert_tail = self._build_upsert()
        self._check_schema()

    # -- connections -------------------------------------------------------------------------------

    def _connect(self):
        raw = self.engine.raw_connection()
        return raw, raw.driver_connection

    def _run(self, work):
        """Run ``work(cursor)`` in one transaction and return its result."""
        raw, conn = self._connect()
        try:
            with conn.cursor() as cur:
                result = work(cur)
            conn.commit()
            return result
        except BaseException:
            conn.rollback()
            raise
        finally:
            raw.close()

    def _check_schema(self) -> None:
        def columns(cur) -> set[str]:
            cur.execute(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                (self.base.schema, self.table.mirror),
            )
            return {row[0] for row in cur.fetchall()}

        present = self._run(columns)
        if not present:
            raise SchemaNotReady(
                f"mirror table {self.base.schema}.{self.table.mirror} does not exist: run `airtable-pg db upgrade`"
            )
        missing = [c for c in self.columns if c not in present]
        if missing:
            raise SchemaNotReady(
                f"{self.base.schema}.{self.table.mirror} lacks columns {', '.join(missing)}: the spec changed "
                "since the last migration; run `airtable-pg db revision -m '…'` then `airtable-pg db upgrade`"
            )

    # -- upsert ------------------------------------------------------------------------------------

    def _build_upsert(self) -> tuple[sql.Composed, sql.Composed]:
        cols = [sql.Identifier(c) for c in self.columns]
        insert_cols = sql.SQL(", ").join(
            [sql.Identifier("airtable_id"), sql.Identifier("airtable_created_time"), sql.Identifier("fields"), *cols]
        )
        data_cols = [sql.Identifier("airtable_created_time"), sql.Identifier("fields"), *cols]
        set_list = sql.SQL(", ").join(
            [sql.SQL("{c} = excluded.{c}").format(c=c) for c in data_cols]
            + [sql.SQL("synced_at = now()"), sql.SQL("deleted_at = null")]
        )
        old = sql.SQL(", ").join([sql.SQL("t.{}").format(c) for c in data_cols] + [sql.SQL("t.deleted_at")])
        new = sql.SQL(", ").join([sql.SQL("excluded.{}").format(c) for c in data_cols] + [sql.SQL("null::timestamptz")])
        head = sql.SQL(
            "with prev as (select airtable_id from {mirror} where deleted_at is not null and airtable_id = any(%s)), "
            "up as (insert into {mirror} as t ({insert_cols}) values "
        ).format(mirror=self.mirror, insert_cols=insert_cols)
        tail = sql.SQL(
            " on conflict (airtable_id) do update set {set_list} where ({old}) is distinct from ({new}) "
            "returning t.airtable_id, (xmax = 0) as inserted), "
            "ev as (insert into {events} (base_id, table_id, airtable_id, kind, source, source_time) "
            "select %s, %s, up.airtable_id, "
            "case when up.inserted then 'created' when prev.airtable_id is not null then 'restored' "
            "else 'updated' end, "
            "%s, (%s::jsonb ->> up.airtable_id)::timestamptz from up left join prev using (airtable_id)) "
            "select up.airtable_id, up.inserted, prev.airtable_id is not null "
            "from up left join prev using (airtable_id)"
        ).format(set_list=set_list, old=old, new=new, events=_state("change_event"))
        return head, tail

    def apply(
        self,
        rows: Sequence[MirrorRow],
        *,
        scan_id: uuid.UUID | None = None,
        source: str = "full",
        watermark: datetime | None = None,
    ) -> ApplyCounts:
        """Upsert ``rows`` in one transaction; with ``scan_id`` record them as seen; with ``watermark`` advance it."""
        # Last wins if a batch repeats an id; sorted so that concurrent writers (a full scan, a poll, a
        # webhook) lock the same rows in the same order and never deadlock each other.
        unique = sorted({row.airtable_id: row for row in rows}.values(), key=lambda row: row.airtable_id)

        def work(cur) -> ApplyCounts:
            counts = ApplyCounts()
            if unique:
                counts = self._upsert(cur, unique, source)
                if scan_id is not None:
                    cur.execute(
                        sql.SQL(
                            "insert into {} (scan_id, airtable_id) select %s, unnest(%s::text[]) on conflict do nothing"
                        ).format(_state("scan_seen")),
                        (scan_id, [row.airtable_id for row in unique]),
                    )
            if watermark is not None:
                self._set_watermark(cur, watermark)
            return counts

        return self._run(work)

    def _upsert(self, cur, rows: list[MirrorRow], source: str) -> ApplyCounts:
        width = 3 + len(self.columns)
        placeholder = sql.SQL("(" + ", ".join(["%s"] * width) + ")")
        values = sql.SQL(", ").join([placeholder] * len(rows))
        params: list[Any] = [[row.airtable_id for row in rows]]
        for row in rows:
            params += [row.airtable_id, row.created_time, Jsonb(row.fields)]
            params += [self._adapt(c, row.columns.get(c)) for c in self.columns]
        source_times = {
            row.airtable_id: (row.modified_time or row.created_time).isoformat()
            for row in rows
            if row.modified_time or row.created_time
        }
        params += [self.base.id, self.table.id, source, Jsonb(source_times)]
        cur.execute(self._upsert_head + values + self._upsert_tail, params)
        written = cur.fetchall()
        counts = ApplyCounts(
            inserted=sum(1 for _, inserted, _ in written if inserted),
            restored=sum(1 for _, inserted, restored in written if restored and not inserted),
        )
        counts.updated = len(written) - counts.inserted
        counts.unchanged = len(rows) - len(written)
        changed = {airtable_id for airtable_id, _, _ in written}
        if changed and self.table.link_fields:
            self._rewrite_links(cur, [row for row in rows if row.airtable_id in changed])
        return counts

    def _rewrite_links(self, cur, rows: list[MirrorRow]) -> None:
        ids = [row.airtable_id for row in rows]
        for link in self.table.link_fields:
            join = sql.Identifier(self.base.schema, self.table.join_table(link))
            cur.execute(sql.SQL("delete from {} where airtable_id = any(%s)").format(join), (ids,))
            owners: list[str] = []
            positions: list[int] = []
            targets: list[str] = []
            for row in rows:
                for position, target in enumerate(row.links.get(link.id) or []):
                    owners.append(row.airtable_id)
                    positions.append(position)
                    targets.append(target)
            if owners:
                cur.execute(
                    sql.SQL(
                        "insert into {} (airtable_id, position, linked_airtable_id) "
                        "select * from unnest(%s::text[], %s::int[], %s::text[])"
                    ).format(join),
                    (owners, positions, targets),
                )

    # -- scans and state ---------------------------------------------------------------------------

    def start_scan(self, kind: str = "full") -> tuple[uuid.UUID, datetime]:
        """Register a run; returns its id and the database's start time (the tombstone cut-off)."""
        scan_id = uuid.uuid4()

        def work(cur) -> datetime:
            # A process killed mid-scan never marks its run failed. No full sync runs anywhere near this
            # long (a million records at Airtable's ceiling take ~35 min), so such a run is abandoned.
            cur.execute(
                sql.SQL(
                    "update {} set status = 'failed', finished_at = now(), error = 'abandoned: its process "
                    "stopped without finishing it' where status = 'running' and started_at < now() - %s::interval"
                ).format(_state("sync_run")),
                (ABANDONED_AFTER,),
            )
            cur.execute(
                sql.SQL(
                    "delete from {} s where exists (select 1 from {} r where r.scan_id = s.scan_id "
                    "and r.status <> 'running')"
                ).format(_state("scan_seen"), _state("sync_run"))
            )
            cur.execute(
                sql.SQL(
                    "insert into {} (scan_id, base_id, table_id, kind) values (%s, %s, %s, %s) returning started_at"
                ).format(_state("sync_run")),
                (scan_id, self.base.id, self.table.id, kind),
            )
            started_at = cur.fetchone()[0]
            self._ensure_state_row(cur)
            if kind == "full":
                cur.execute(
                    sql.SQL(
                        "update {} set last_full_sync_started_at = %s, updated_at = now() "
                        "where base_id = %s and table_id = %s"
                    ).format(_state("table_state")),
                    (started_at, self.base.id, self.table.id),
                )
            self._write_catalog(cur)
            return started_at

        return scan_id, self._run(work)

    def finish_scan(
        self,
        scan_id: uuid.UUID,
        *,
        tombstone_before: datetime | None,
        watermark: datetime | None = None,
        stats: dict[str, Any] | None = None,
    ) -> int:
        """Close a run. With ``tombstone_before`` (a completed full scan's start), tombstone live rows the scan
        did not see and nobody wrote since it started; returns how many."""

        def work(cur) -> int:
            tombstoned = 0
            if tombstone_before is not None:
                cur.execute(
                    sql.SQL(
                        "with gone as (update {mirror} t set deleted_at = now(), synced_at = now() "
                        "where t.deleted_at is null and t.airtable_id is not null and t.synced_at < %s "
                        "and not exists (select 1 from {seen} s "
                        "where s.scan_id = %s and s.airtable_id = t.airtable_id) "
                        "returning t.airtable_id), "
                        "ev as (insert into {events} (base_id, table_id, airtable_id, kind, source) "
                        "select %s, %s, airtable_id, 'deleted', 'full' from gone) "
                        "select count(*) from gone"
                    ).format(mirror=self.mirror, seen=_state("scan_seen"), events=_state("change_event")),
                    (tombstone_before, scan_id, self.base.id, self.table.id),
                )
                tombstoned = cur.fetchone()[0]
                cur.execute(
                    sql.SQL(
                        "update {} set last_full_sync_completed_at = now() where base_id = %s and table_id = %s"
                    ).format(_state("table_state")),
                    (self.base.id, self.table.id),
                )
            else:
                cur.execute(
                    sql.SQL(
                        "update {} set last_incremental_sync_at = now() where base_id = %s and table_id = %s"
                    ).format(_state("table_state")),
                    (self.base.id, self.table.id),
                )
            if watermark is not None:
                self._set_watermark(cur, watermark)
            cur.execute(sql.SQL("delete from {} where scan_id = %s").format(_state("scan_seen")), (scan_id,))
            cur.execute(
                sql.SQL(
                    "update {} set row_count = (select count(*) from {} where deleted_at is null), "
                    "last_error = null, updated_at = now() where base_id = %s and table_id = %s"
                ).format(_state("table_state"), self.mirror),
                (self.base.id, self.table.id),
            )
            cur.execute(
                sql.SQL(
                    "update {} set status = 'succeeded', finished_at = now(), stats = %s where scan_id = %s"
                ).format(_state("sync_run")),
                (Jsonb(stats or {}), scan_id),
            )
            return tombstoned

        return self._run(work)

    def fail_scan(self, scan_id: uuid.UUID, error: str) -> None:
        """Mark a run failed and drop what it saw: an interrupted scan tombstones nothing."""

        def work(cur) -> None:
            cur.execute(sql.SQL("delete from {} where scan_id = %s").format(_state("scan_seen")), (scan_id,))
            cur.execute(
                sql.SQL("update {} set status = 'failed', finished_at = now(), error = %s where scan_id = %s").format(
                    _state("sync_run")
                ),
                (error[:2000], scan_id),
            )
            cur.execute(
                sql.SQL(
                    "update {} set last_error = %s, updated_at = now() where base_id = %s and table_id = %s"
                ).format(_state("table_state")),
                (error[:2000], self.base.id, self.table.id),
            )

        self._run(work)

    def watermark(self) -> datetime | None:
        def work(cur) -> datetime | None:
            cur.execute(
                sql.SQL("select poll_watermark from {} where base_id = %s and table_id = %s").format(
                    _state("table_state")
                ),
                (self.base.id, self.table.id),
            )
            row = cur.fetchone()
            return row[0] if row else None

        return self._run(work)

    def live_count(self) -> int:
        def work(cur) -> int:
            cur.execute(sql.SQL("select count(*) from {} where deleted_at is null").format(self.mirror))
            return cur.fetchone()[0]

        return self._run(work)

    def live_rows_by_last_id_char(self) -> dict[str, int]:
        """Live rows per last character of ``airtable_id``: how a full scan splits into even ranges."""

        def work(cur) -> dict[str, int]:
            cur.execute(
                sql.SQL("select right(airtable_id, 1), count(*) from {} where deleted_at is null group by 1").format(
                    self.mirror
                )
            )
            return {char: count for char, count in cur.fetchall()}

        return self._run(work)

    def _ensure_state_row(self, cur) -> None:
        cur.execute(
            sql.SQL(
                "insert into {} (base_id, table_id, mirror_schema, mirror_table) values (%s, %s, %s, %s) "
                "on conflict (base_id, table_id) do update set mirror_schema = excluded.mirror_schema, "
                "mirror_table = excluded.mirror_table"
            ).format(_state("table_state")),
            (self.base.id, self.table.id, self.base.schema, self.table.mirror),
        )

    def _set_watermark(self, cur, watermark: datetime) -> None:
        self._ensure_state_row(cur)
        # greatest(): a slow, older run finishing late must never move the watermark backwards.
        cur.execute(
            sql.SQL(
                "update {} set poll_watermark = greatest(poll_watermark, %s), updated_at = now() "
                "where base_id = %s and table_id = %s"
            ).format(_state("table_state")),
            (watermark, self.base.id, self.table.id),
        )

    def _write_catalog(self, cur) -> None:
        rows = [
            (
                self.base.id,
                self.table.id,
                f.id,
                f.name,
                f.type,
                self.base.schema,
                self.table.mirror,
                f.column,
                f.pg_type,
                self.table.join_table(f) if f.is_link else None,
            )
            for f in self.table.fields.values()
        ]
        cur.executemany(
            sql.SQL(
                "insert into {} (base_id, table_id, field_id, airtable_name, airtable_type, mirror_schema, "
                "mirror_table, column_name, pg_type, join_table) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "on conflict (base_id, table_id, field_id) do update set airtable_name = excluded.airtable_name, "
                "airtable_type = excluded.airtable_type, mirror_schema = excluded.mirror_schema, "
                "mirror_table = excluded.mirror_table, column_name = excluded.column_name, "
                "pg_type = excluded.pg_type, join_table = excluded.join_table, updated_at = now() "
                "where ({t}.airtable_name, {t}.airtable_type, {t}.column_name, {t}.pg_type, {t}.join_table) "
                "is distinct from (excluded.airtable_name, excluded.airtable_type, excluded.column_name, "
                "excluded.pg_type, excluded.join_table)"
            ).format(_state("field_catalog"), t=sql.Identifier("field_catalog")),
            rows,
        )

    def _adapt(self, column: str, value: Any) -> Any:
        """jsonb columns get any JSON value wrapped; psycopg adapts the rest (lists of str become text[])."""
        if value is not None and column in self._jsonb_columns:
            return Jsonb(value)
        return value
