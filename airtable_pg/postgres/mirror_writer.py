"""The one way rows get into a mirror table.

Full scans, polls and webhook payloads all hand ``MirrorRow``s to ``MirrorWriter.upsert``. One statement
per batch upserts on the unique ``airtable_id`` — so a record can never be inserted twice, whatever retries
or overlaps happen — and rewrites a row only when something in it changed. Every method takes the cursor
of the caller's transaction: sync state (``postgres.sync_state``) commits with the rows it describes.
Tombstones are decided only by a *completed* full scan (``tombstone_unseen``), never by a partial one.

Attachments are compared without their URLs. Airtable hands out a new, expiring URL (and thumbnail URLs) for the
same attachment on later reads, so a row whose only difference is its URLs is unchanged: not rewritten, not counted
as updated, no change event (so no latency sample, no computed refresh, no outbox echo). Its stored URLs stay those
of its last real change; they expire within hours whatever we store, and the attachment archive serves the stable
copy (its copier re-reads a record whose stored URL has expired). Every other key of an attachment object (id,
filename, size, type, width, height, a thumbnail's size) is compared as before, so a real change is never missed.

Every write marks its transaction as the sync's (``airtable_pg.origin = 'sync'``), so the outbox triggers of
Postgres-authoritative tables never take the sync's writes for the app's; rows of such tables pass the
``AuthorityGuard`` first (echoes, conflicts, records Postgres created).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.airtable.types import ATTACHMENT_TYPE
from airtable_pg.postgres.authority_guard import AuthorityGuard
from airtable_pg.postgres.cell_errors import where_clause
from airtable_pg.postgres.errors import SchemaNotReady
from airtable_pg.postgres.outbox import mark_sync_origin
from airtable_pg.postgres.sync_state import TableCounts, state_table
from airtable_pg.postgres.transaction import transaction
from airtable_pg.rows import MirrorRow
from airtable_pg.spec import BaseSpec, TableSpec

__all__ = ["ApplyCounts", "MirrorRow", "MirrorWriter", "SchemaNotReady"]


@dataclass
class ApplyCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    restored: int = 0


class MirrorWriter:
    """Writes one spec table's mirror (and its join tables) in the caller's transaction; thread-safe."""

    def __init__(self, db: sa.Engine, base: BaseSpec, table: TableSpec):
        self.base = base
        self.table = table
        self.mirror = sql.Identifier(base.schema, table.mirror)
        self.columns = [f.column for f in table.fields.values()]
        self._jsonb_columns = frozenset(f.column for f in table.fields.values() if f.pg_type == "jsonb")
        self._upsert_head, self._upsert_tail = self._build_upsert()
        self._guard = AuthorityGuard(base, table) if table.is_postgres_authoritative else None
        with transaction(db) as cur:
            self._check_schema(cur)

    def _check_schema(self, cur: Cursor) -> None:
        cur.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (self.base.schema, self.table.mirror),
        )
        present = {row[0] for row in cur.fetchall()}
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
        changed = self._changed(data_cols)
        head = sql.SQL(
            "with prev as (select airtable_id from {mirror} where deleted_at is not null and airtable_id = any(%s)), "
            "up as (insert into {mirror} as t ({insert_cols}) values "
        ).format(mirror=self.mirror, insert_cols=insert_cols)
        tail = sql.SQL(
            " on conflict (airtable_id) do update set {set_list} where {changed} "
            "returning t.airtable_id, (xmax = 0) as inserted), "
            # applied_at: the write's own time, not the transaction's start (``now()``), which for a webhook
            # pass is before its payload request: provisioning latency is measured up to here.
            "ev as (insert into {events} (base_id, table_id, airtable_id, kind, source, source_time, applied_at) "
            "select %s, %s, up.airtable_id, "
            "case when up.inserted then 'created' when prev.airtable_id is not null then 'restored' "
            "else 'updated' end, "
            "%s, (%s::jsonb ->> up.airtable_id)::timestamptz, clock_timestamp() "
            "from up left join prev using (airtable_id)) "
            "select up.airtable_id, up.inserted, prev.airtable_id is not null "
            "from up left join prev using (airtable_id)"
        ).format(set_list=set_list, changed=changed, events=state_table("change_event"))
        return head, tail

    def _changed(self, data_cols: list[sql.Identifier]) -> sql.Composed:
        """The upsert's condition for rewriting a stored row. The plain comparison comes first: Postgres stops an
        ``and`` at its first false, so a row equal as stored (the common case) never pays for taking the URLs out of
        its attachments (measured: about 40 against 20 ms per 100 users rows when every row pays it)."""

        def plain(row: str, deleted: str) -> sql.Composed:
            values = [sql.SQL("{}.{}").format(sql.Identifier(row), c) for c in data_cols]
            return sql.SQL(", ").join([*values, sql.SQL(deleted)])

        raw = sql.SQL("({}) is distinct from ({})").format(
            plain("t", "t.deleted_at"), plain("excluded", "null::timestamptz")
        )
        if not any(f.type == ATTACHMENT_TYPE for f in self.table.fields.values()):
            return raw
        old = sql.SQL(", ").join([*self._compared("t"), sql.SQL("t.deleted_at")])
        new = sql.SQL(", ").join([*self._compared("excluded"), sql.SQL("null::timestamptz")])
        return sql.SQL("{} and ({}) is distinct from ({})").format(raw, old, new)

    def _compared(self, row: str) -> list[sql.Composable]:
        """What decides whether a stored row changed: every data column, attachments without their URLs."""
        fields = self.table.fields.values()
        attachment_ids = [f.id for f in fields if f.type == ATTACHMENT_TYPE]
        attachment_columns = {f.column for f in fields if f.type == ATTACHMENT_TYPE}
        alias = sql.Identifier(row)
        compared: list[sql.Composable] = [sql.SQL("{}.airtable_created_time").format(alias)]
        if attachment_ids:
            compared.append(sql.SQL("{}.fields - {}::text[]").format(alias, sql.Literal(attachment_ids)))
            compared += [
                without_urls(sql.SQL("{}.fields -> {}").format(alias, sql.Literal(field_id)))
                for field_id in attachment_ids
            ]
        else:
            compared.append(sql.SQL("{}.fields").format(alias))
        for column in self.columns:
            cell = sql.SQL("{}.{}").format(alias, sql.Identifier(column))
            compared.append(without_urls(cell) if column in attachment_columns else cell)
        return compared

    def upsert(
        self, cur: Cursor, rows: Sequence[MirrorRow], source: str, *, guarded: bool = True
    ) -> tuple[ApplyCounts, list[str]]:
        """Upsert ``rows``; returns the counts and the record ids of the batch, in the order written.

        Last wins if a batch repeats an id; sorted so that concurrent writers (a full scan, a poll, a
        webhook) lock the same rows in the same order and never deadlock each other. ``guarded=False`` is
        for the outbound pusher's write-back of Airtable's answer, which is no inbound change.
        """
        unique = sorted({row.airtable_id: row for row in rows}.values(), key=lambda row: row.airtable_id)
        if not unique:
            return ApplyCounts(), []
        mark_sync_origin(cur)
        written = [row.airtable_id for row in unique]
        if self._guard is not None and guarded:
            unique = self._guard.filter(cur, unique, source)
            if not unique:
                return ApplyCounts(unchanged=len(written)), written
        return self._upsert(cur, unique, source), written

    def _upsert(self, cur: Cursor, rows: list[MirrorRow], source: str) -> ApplyCounts:
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

    def _rewrite_links(self, cur: Cursor, rows: list[MirrorRow]) -> None:
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

    # -- tombstones and reads -----------------------------------------------------------------------

    def tombstone_unseen(self, cur: Cursor, run_id: uuid.UUID, before: datetime) -> int:
        """Tombstone live rows the completed scan ``run_id`` did not see and nobody wrote since ``before``."""
        mark_sync_origin(cur)
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
            ).format(mirror=self.mirror, seen=state_table("scan_seen"), events=state_table("change_event")),
            (before, run_id, self.base.id, self.table.id),
        )
        return cur.fetchone()[0]

    def tombstone(self, cur: Cursor, airtable_ids: Sequence[str], source: str, source_time: datetime | None) -> int:
        """Tombstone these records (Airtable said they were destroyed); returns how many were live."""
        if not airtable_ids:
            return 0
        mark_sync_origin(cur)
        cur.execute(
            sql.SQL(
                "with gone as (update {mirror} t set deleted_at = now(), synced_at = now() "
                "where t.deleted_at is null and t.airtable_id = any(%s) returning t.airtable_id), "
                "ev as (insert into {events} (base_id, table_id, airtable_id, kind, source, source_time, applied_at) "
                "select %s, %s, airtable_id, 'deleted', %s, %s, clock_timestamp() from gone) "
                "select count(*) from gone"
            ).format(mirror=self.mirror, events=state_table("change_event")),
            (sorted(set(airtable_ids)), self.base.id, self.table.id, source, source_time),
        )
        return cur.fetchone()[0]

    def stored_records(self, cur: Cursor, airtable_ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], Any]]:
        """``{id: (fields, airtable_created_time)}`` of stored rows, locked until the transaction ends."""
        if not airtable_ids:
            return {}
        cur.execute(
            sql.SQL(
                "select airtable_id, fields, airtable_created_time from {} where airtable_id = any(%s) "
                "order by airtable_id for update"
            ).format(self.mirror),
            (sorted(set(airtable_ids)),),
        )
        return {airtable_id: (fields, created) for airtable_id, fields, created in cur.fetchall()}

    def live_count(self, cur: Cursor) -> int:
        cur.execute(sql.SQL("select count(*) from {} where deleted_at is null").format(self.mirror))
        return cur.fetchone()[0]

    def live_ids(self, cur: Cursor, airtable_ids: Sequence[str]) -> set[str]:
        """Which of these records are live rows of the mirror (through the unique index on ``airtable_id``)."""
        if not airtable_ids:
            return set()
        cur.execute(
            sql.SQL("select airtable_id from {} where airtable_id = any(%s) and deleted_at is null").format(
                self.mirror
            ),
            (list(airtable_ids),),
        )
        return {row[0] for row in cur.fetchall()}

    def counts(self, cur: Cursor, *, cell_errors: bool) -> TableCounts:
        """Live rows and tombstones in one scan of the table; with ``cell_errors``, also the cell errors
        (``postgres.cell_errors``'s rule). What a finished run records for ``/metrics``, so a scrape never scans a
        mirror table. Cell errors cost a look into each row's ``fields`` where a column is NULL (about 0.3 s for
        20,000 wide rows): a full run counts them, a poll leaves the last full run's figure."""
        errors = [sql.SQL("count(*) filter (where {})").format(where_clause(f)) for f in self.table.fields.values()]
        counted = sql.SQL(" + ").join(errors) if errors and cell_errors else sql.SQL("0" if cell_errors else "null")
        cur.execute(
            sql.SQL(
                "select count(*) filter (where deleted_at is null), count(*) filter (where deleted_at is not null), {} "
                "from {}"
            ).format(counted, self.mirror)
        )
        live, tombstones, found = cur.fetchone()
        return TableCounts(live, tombstones, found)

    def live_rows_by_last_id_char(self, cur: Cursor) -> dict[str, int]:
        """Live rows per last character of ``airtable_id``: how a full scan splits into even ranges."""
        cur.execute(
            sql.SQL("select right(airtable_id, 1), count(*) from {} where deleted_at is null group by 1").format(
                self.mirror
            )
        )
        return {char: count for char, count in cur.fetchall()}

    def _adapt(self, column: str, value: Any) -> Any:
        """jsonb columns get any JSON value wrapped; psycopg adapts the rest (lists of str become text[])."""
        if value is not None and column in self._jsonb_columns:
            return Jsonb(value)
        return value


# An attachment cell (a list of attachment objects) without the keys that change on every read: each object's
# ``url`` and each of its thumbnails' ``url``. Anything that is not such a list is compared as it is.
_WITHOUT_URLS = sql.SQL(
    "case when jsonb_typeof({cell}) = 'array' then (select coalesce(jsonb_agg("
    "case when jsonb_typeof(a) = 'object' then (a - 'url') || case when jsonb_typeof(a -> 'thumbnails') = 'object' "
    "then jsonb_build_object('thumbnails', (select coalesce(jsonb_object_agg(k, "
    "case when jsonb_typeof(v) = 'object' then v - 'url' else v end), '{{}}'::jsonb) "
    "from jsonb_each(a -> 'thumbnails') as th(k, v))) else '{{}}'::jsonb end else a end order by i), '[]'::jsonb) "
    "from jsonb_array_elements({cell}) with ordinality as e(a, i)) else {cell} end"
)


def without_urls(cell: sql.Composable) -> sql.Composed:
    """``cell`` (a jsonb expression) as compared: attachment objects without their expiring URLs."""
    return _WITHOUT_URLS.format(cell=cell)
