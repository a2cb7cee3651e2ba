"""Inbound changes to a Postgres-authoritative table: echoes, conflicts and records Postgres created.

Every inbound path (full scan, poll, webhook) writes through ``MirrorWriter``, which hands rows of a
``authority: postgres`` table to :class:`AuthorityGuard` first:

* **Records Postgres created** carry the row's id in the idempotency-key field: the row without an
  ``airtable_id`` takes the record's id instead of a second row being inserted (a full sync never duplicates a
  row Postgres created and Airtable echoed, even when the push's write-back was lost).
* **Echoes**: a value equal to Postgres's, or to what the pusher last sent (an older push coming back while a
  newer change waits in the outbox), is not an Airtable edit.
* **Conflicts**: for a row the app wrote (it has an outbox item), any other difference in a writable field is
  recorded in ``airtable_sync.conflict`` (table, record, field, both values) and resolved by the table's
  ``conflict_policy``: ``postgres_wins`` keeps Postgres's value and pushes the row again; ``airtable_wins``
  takes Airtable's value.
* A record whose deletion by the app is not pushed yet is not brought back.

Rows the app never wrote (records staff created in Airtable, or the initial import) are mirrored as on any table:
there is no Postgres value of theirs to protect.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import Cursor, sql

from airtable_pg.comparable import comparable, to_json
from airtable_pg.postgres import outbox
from airtable_pg.rows import MirrorRow
from airtable_pg.spec import BaseSpec, TableSpec


class AuthorityGuard:
    def __init__(self, base: BaseSpec, table: TableSpec) -> None:
        self.base = base
        self.table = table
        self.mirror = sql.Identifier(base.schema, table.mirror)
        self.writable = table.writable_fields
        self._key_field: str | None = None
        columns = sql.SQL(", ").join(sql.Identifier(f.column) for f in self.writable)
        self._select = sql.SQL(
            "select id, airtable_id, deleted_at, {columns} from {mirror} where airtable_id = any(%s) "
            "order by airtable_id for update"
        ).format(columns=columns, mirror=self.mirror)

    def filter(self, cur: Cursor, rows: Sequence[MirrorRow], source: str) -> list[MirrorRow]:
        """The rows to write, with Postgres's values kept where its policy wins; conflicts recorded."""
        self._claim_created(cur, rows)
        ids = [row.airtable_id for row in rows]
        gone = outbox.pending_deletes(cur, self.base.schema, self.table.mirror, ids)
        cur.execute(self._select, (ids,))
        current = {record[1]: record for record in cur.fetchall()}
        pushed = outbox.pushed_state(cur, self.base.schema, self.table.mirror, [r[0] for r in current.values()])
        kept: list[MirrorRow] = []
        for row in rows:
            if row.airtable_id in gone:
                continue
            stored = current.get(row.airtable_id)
            if stored is None:  # a record created in Airtable (staff, automations): mirrored as any other
                kept.append(row)
                continue
            row_id, _, deleted_at = stored[:3]
            if row_id not in pushed:  # the app never wrote this row: Airtable's values are the only ones
                kept.append(row)
                continue
            status, operation, pushed_values = pushed[row_id]
            if deleted_at is not None and operation == "delete" and status != "done":
                continue
            self._resolve(cur, row, row_id, dict(zip(self.writable, stored[3:], strict=True)), pushed_values, source)
            kept.append(row)
        return kept

    def _claim_created(self, cur: Cursor, rows: Sequence[MirrorRow]) -> None:
        key_field = self._key_field_id(cur)
        if key_field is None:
            return
        claims = [(row.airtable_id, key) for row in rows if (key := _uuid(row.fields.get(key_field))) is not None]
        for airtable_id, row_id in claims:
            cur.execute(
                sql.SQL(
                    "update {} set airtable_id = %s, synced_at = now() where id = %s and airtable_id is null "
                    "and not exists (select 1 from {} where airtable_id = %s)"
                ).format(self.mirror, self.mirror),
                (airtable_id, row_id, airtable_id),
            )

    def _key_field_id(self, cur: Cursor) -> str | None:
        if self._key_field is None:  # known once the pusher ensured it; stable from then on
            self._key_field = outbox.key_field_id(cur, self.base.id, self.table.id)
        return self._key_field

    def _resolve(
        self,
        cur: Cursor,
        row: MirrorRow,
        row_id: uuid.UUID,
        stored: dict[Any, Any],
        pushed_values: dict[str, Any] | None,
        source: str,
    ) -> None:
        pushed_values = pushed_values or {}
        push_again = False
        for field, mine in stored.items():
            theirs = row.columns.get(field.column)
            if comparable(theirs) == comparable(mine):
                continue
            echo = field.column in pushed_values and comparable(pushed_values[field.column]) == comparable(theirs)
            if not echo:
                postgres_wins = self.table.conflict_policy == "postgres_wins"
                outbox.record_conflict(
                    cur,
                    outbox.Conflict(
                        base_id=self.base.id,
                        table_id=self.table.id,
                        airtable_id=row.airtable_id,
                        row_id=row_id,
                        field_id=field.id,
                        column_name=field.column,
                        postgres_value=to_json(mine),
                        airtable_value=to_json(theirs),
                        policy=self.table.conflict_policy,
                        resolution="postgres value pushed again" if postgres_wins else "airtable value applied",
                        source=source,
                    ),
                )
                if not postgres_wins:
                    continue
                push_again = True
            # Postgres's value stays: an older push of ours coming back, or the conflict Postgres won.
            row.columns[field.column] = mine
            if field.is_link:
                row.links[field.id] = list(mine or [])
        if push_again:
            outbox.enqueue_row(
                cur,
                base_id=self.base.id,
                table_id=self.table.id,
                schema=self.base.schema,
                mirror=self.table.mirror,
                row_id=row_id,
                airtable_id=row.airtable_id,
            )


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
