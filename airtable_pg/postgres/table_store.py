"""One mirrored table's rows and sync state together: each operation is one transaction.

The sync engines talk to this; it composes ``MirrorWriter`` (rows) and ``sync_state`` (runs, leases,
seen-ids, watermarks) so that what describes a change commits with the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from airtable_pg.postgres import sync_state
from airtable_pg.postgres.mirror_writer import ApplyCounts, MirrorWriter
from airtable_pg.postgres.transaction import rolled_back, transaction
from airtable_pg.rows import MirrorRow
from airtable_pg.spec import BaseSpec, TableSpec


class TableStore:
    """Thread-safe: every call takes its own pooled connection."""

    def __init__(self, db: sa.Engine, base: BaseSpec, table: TableSpec) -> None:
        self.db = db
        self.base = base
        self.table = table
        self.writer = MirrorWriter(db, base, table)  # checks the mirror's columns once

    def apply(
        self,
        rows: Sequence[MirrorRow],
        *,
        scan_id: uuid.UUID | None = None,
        source: str = "full",
        watermark: datetime | None = None,
    ) -> ApplyCounts:
        """Upsert ``rows``; with ``scan_id`` record them as seen (renewing the run's lease); with ``watermark``
        advance it — all in one transaction."""
        with transaction(self.db) as cur:
            if scan_id is not None:
                sync_state.heartbeat(cur, scan_id)
            counts, written_ids = self.writer.upsert(cur, rows, source)
            if scan_id is not None:
                sync_state.mark_seen(cur, scan_id, written_ids)
            if watermark is not None:
                sync_state.advance_watermark(cur, self.base, self.table, watermark)
        return counts

    def would_change(self, rows: Sequence[MirrorRow], *, source: str = "poll") -> bool:
        """Whether ``apply(rows)`` would change the mirror: the apply path itself, run and rolled back.

        The same SQL decides as for a real write (``is distinct from``, the authority guard), so "nothing to
        apply" here means exactly that a run would have found every row unchanged.
        """
        with rolled_back(self.db) as cur:
            counts, _ = self.writer.upsert(cur, rows, source)
        return counts.inserted + counts.updated + counts.restored > 0

    def record_probe(self, rows: Sequence[MirrorRow]) -> None:
        """Record what a poll probe saw: how many of ``rows`` (Airtable's first page of changes, just read) the mirror
        lacks as live rows, and the one of them Airtable created first. A scrape then tells whether the mirror still
        lacks it: a user in Airtable longer than the SLO and not in Postgres is the stuck fast lane."""
        with transaction(self.db) as cur:
            live = self.writer.live_ids(cur, [row.airtable_id for row in rows])
            missing = [row for row in rows if row.airtable_id not in live]
            dated = [row for row in missing if row.created_time is not None]
            oldest = min(dated, key=lambda row: row.created_time) if dated else None  # type: ignore[arg-type, return-value]
            sync_state.record_probe(
                cur,
                self.base,
                self.table,
                missing=len(missing),
                oldest_id=oldest.airtable_id if oldest else None,
                oldest_created_at=oldest.created_time if oldest else None,
            )

    def start_scan(self, kind: str = "full") -> tuple[uuid.UUID, datetime]:
        with transaction(self.db) as cur:
            return sync_state.start_run(cur, self.base, self.table, kind)

    def heartbeat(self, scan_id: uuid.UUID) -> None:
        with transaction(self.db) as cur:
            sync_state.heartbeat(cur, scan_id)

    def finish_scan(
        self,
        scan_id: uuid.UUID,
        *,
        tombstone_before: datetime | None,
        watermark: datetime | None = None,
        stats: dict[str, Any] | None = None,
        refresh_only: bool = False,
    ) -> int:
        """Close a run. With ``tombstone_before`` (a completed full scan's start), tombstone live rows the scan
        did not see and nobody wrote since it started; returns how many. A run that lost its lease raises
        ``RunLost`` and changes nothing."""
        with transaction(self.db) as cur:
            sync_state.hold_lease(cur, scan_id)
            full = tombstone_before is not None
            tombstoned = self.writer.tombstone_unseen(cur, scan_id, tombstone_before) if full else 0
            sync_state.finish_run(
                cur,
                scan_id,
                self.base,
                self.table,
                full=full,
                counts=self.writer.counts(cur, cell_errors=full),
                stats=stats or {},
                watermark=watermark,
                refresh_only=refresh_only,
            )
        return tombstoned

    def fail_scan(self, scan_id: uuid.UUID, error: str) -> None:
        with transaction(self.db) as cur:
            sync_state.fail_run(cur, scan_id, self.base, self.table, error)

    def watermark(self) -> datetime | None:
        with transaction(self.db) as cur:
            return sync_state.read_watermark(cur, self.base, self.table)

    def live_count(self) -> int:
        with transaction(self.db) as cur:
            return self.writer.live_count(cur)

    def live_rows_by_last_id_char(self) -> dict[str, int]:
        with transaction(self.db) as cur:
            return self.writer.live_rows_by_last_id_char(cur)
