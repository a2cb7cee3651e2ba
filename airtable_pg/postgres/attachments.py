"""The attachment archive's state (``airtable_sync.attachment``): what the mirror holds, what is copied, what left.

Every function takes a psycopg cursor and runs in the caller's transaction. The archive never writes a mirror
table and never holds a lock a sync waits for: it *reads* the mirror's ``fields`` JSON (Airtable's attachment
objects, kept losslessly) and keeps its own rows.

- :func:`reconcile` upserts every live attachment of one attachment field and tombstones the table's entries no
  longer seen (their record was deleted, or the attachment removed from its cell); one seen again is restored.
- :func:`claim` leases due pending entries to a copier (``FOR UPDATE SKIP LOCKED``: copiers in parallel never
  take the same one; a killed copier's lease runs out and the entry is due again).
- :func:`mark_archived`, :func:`mark_failed`, :func:`refresh_url`, :func:`tombstone` record each outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb

from airtable_pg.postgres.sync_state import MAX_ERROR_CHARS, state_table

_TABLE = state_table("attachment")


@dataclass(frozen=True)
class Attachment:
    base_id: str
    attachment_id: str
    table_id: str
    record_id: str
    field_id: str
    filename: str
    content_type: str | None
    size: int | None
    source_url: str | None
    source_thumbnails: dict[str, Any] | None  # variant → {url, width, height}, as Airtable gave them
    attempts: int


@dataclass(frozen=True)
class Purgeable:
    base_id: str
    attachment_id: str
    store_key: str | None
    thumbnail_keys: list[str]


_CLAIMED = (
    "base_id, attachment_id, table_id, record_id, field_id, filename, content_type, size, source_url, "
    "source_thumbnails, attempts"
)


def reconcile(cur: Cursor, base_id: str, table_id: str, mirror: sql.Composable, field_ids: list[str]) -> None:
    """Record every live attachment in ``field_ids`` of the mirror table; tombstone this table's others.

    Run every minute by the backlog sensor, so it writes only what changed: a new attachment, one whose record,
    field, name or type moved, one back from a tombstone, or a newer URL. A URL is newer when its mirror row was
    written (``synced_at``) after the URL the archive holds was read (``source_changed_at``, also set when the
    archive re-reads a record itself): a fresh URL is never replaced by the mirror's older one. Then every entry
    of the table whose record is gone or no longer holds it in its cell is tombstoned.
    """
    for field_id in field_ids:
        cur.execute(
            sql.SQL(
                """
                insert into {state} as a (base_id, attachment_id, table_id, record_id, field_id, filename,
                                          content_type, size, source_url, source_thumbnails, source_changed_at)
                select distinct on (att->>'id') %(base)s, att->>'id', %(table)s, m.airtable_id, %(field)s,
                       coalesce(nullif(att->>'filename', ''), 'file'), att->>'type',
                       case when jsonb_typeof(att->'size') = 'number' then (att->>'size')::numeric::bigint end,
                       att->>'url', case when jsonb_typeof(att->'thumbnails') = 'object' then att->'thumbnails' end,
                       m.synced_at
                  from {mirror} m
                 cross join lateral jsonb_array_elements(
                         case when jsonb_typeof(m.fields->%(field)s) = 'array' then m.fields->%(field)s
                              else '[]'::jsonb end) att
                 where m.deleted_at is null and m.airtable_id is not null
                   and jsonb_typeof(att) = 'object' and att->>'id' like 'att%%'
                 order by att->>'id', m.airtable_id
                on conflict (base_id, attachment_id) do update set
                  table_id = excluded.table_id, record_id = excluded.record_id, field_id = excluded.field_id,
                  filename = excluded.filename, content_type = excluded.content_type,
                  size = coalesce(excluded.size, a.size),
                  source_url = case when excluded.source_changed_at > a.source_changed_at
                                    then excluded.source_url else a.source_url end,
                  source_thumbnails = case when excluded.source_changed_at > a.source_changed_at
                                           then excluded.source_thumbnails else a.source_thumbnails end,
                  source_changed_at = greatest(a.source_changed_at, excluded.source_changed_at),
                  tombstoned_at = null,
                  -- a copy purged while tombstoned, now back in Airtable: copy it again
                  status = case when a.purged_at is not null then 'pending' else a.status end,
                  next_attempt_at = case when a.purged_at is not null then now() else a.next_attempt_at end,
                  attempts = case when a.purged_at is not null then 0 else a.attempts end,
                  purged_at = null
                where a.tombstoned_at is not null or excluded.source_changed_at > a.source_changed_at
                   or (a.table_id, a.record_id, a.field_id, a.filename, a.content_type, a.size)
                      is distinct from (excluded.table_id, excluded.record_id, excluded.field_id, excluded.filename,
                                        excluded.content_type, coalesce(excluded.size, a.size))
                """
            ).format(state=_TABLE, mirror=mirror),
            {"base": base_id, "table": table_id, "field": field_id},
        )
    cur.execute(
        sql.SQL(
            """
            update {state} a set tombstoned_at = now()
             where a.base_id = %s and a.table_id = %s and a.tombstoned_at is null
               and not exists (
                   select 1 from {mirror} m
                    where m.airtable_id = a.record_id and m.deleted_at is null
                      and jsonb_typeof(m.fields->a.field_id) = 'array'
                      and m.fields->a.field_id @> jsonb_build_array(jsonb_build_object('id', a.attachment_id)))
            """
        ).format(state=_TABLE, mirror=mirror),
        (base_id, table_id),
    )


def claim(cur: Cursor, base_ids: list[str], limit: int, lease_seconds: float) -> list[Attachment]:
    """Lease up to ``limit`` due pending attachments of ``base_ids``; each claim counts as an attempt."""
    cur.execute(
        sql.SQL(
            """
            update {state} a set claimed_until = now() + make_interval(secs => %(lease)s),
                                 attempts = a.attempts + 1
             where (a.base_id, a.attachment_id) in (
                   select base_id, attachment_id from {state}
                    where status = 'pending' and tombstoned_at is null and next_attempt_at <= now()
                      and (claimed_until is null or claimed_until < now()) and base_id = any(%(bases)s)
                    order by next_attempt_at, attachment_id
                    limit %(limit)s
                      for update skip locked)
            returning {columns}
            """
        ).format(state=_TABLE, columns=sql.SQL(_CLAIMED)),
        {"lease": lease_seconds, "bases": base_ids, "limit": limit},
    )
    return [Attachment(*row) for row in cur.fetchall()]


def mark_archived(
    cur: Cursor,
    item: Attachment,
    *,
    store_key: str,
    store_url: str,
    sha256: str,
    stored_bytes: int,
    thumbnails: dict[str, Any] | None,
) -> None:
    cur.execute(
        sql.SQL(
            "update {} set status = 'archived', store_key = %s, store_url = %s, sha256 = %s, stored_bytes = %s, "
            "thumbnails = %s, archived_at = now(), claimed_until = null, last_error = null "
            "where base_id = %s and attachment_id = %s"
        ).format(_TABLE),
        (store_key, store_url, sha256, stored_bytes, Jsonb(thumbnails) if thumbnails else None, item.base_id,
         item.attachment_id),
    )  # fmt: skip


def mark_failed(cur: Cursor, item: Attachment, error: str, *, retry_in_seconds: float, give_up: bool) -> None:
    """A failed attempt: due again after ``retry_in_seconds``, or ``failed`` for good when ``give_up``."""
    cur.execute(
        sql.SQL(
            "update {} set status = case when %s then 'failed' else status end, last_error = %s, claimed_until = null, "
            "next_attempt_at = now() + make_interval(secs => %s) where base_id = %s and attachment_id = %s"
        ).format(_TABLE),
        (give_up, error[:MAX_ERROR_CHARS], retry_in_seconds, item.base_id, item.attachment_id),
    )


def refresh_url(cur: Cursor, item: Attachment, url: str, thumbnails: dict[str, Any] | None) -> None:
    cur.execute(
        sql.SQL(
            "update {} set source_url = %s, source_thumbnails = %s, source_changed_at = now() "
            "where base_id = %s and attachment_id = %s"
        ).format(_TABLE),
        (url, Jsonb(thumbnails) if thumbnails else None, item.base_id, item.attachment_id),
    )


def tombstone(cur: Cursor, item: Attachment, reason: str) -> None:
    """Airtable no longer has it (found while copying): tombstoned, no longer copied."""
    cur.execute(
        sql.SQL(
            "update {} set tombstoned_at = coalesce(tombstoned_at, now()), claimed_until = null, last_error = %s "
            "where base_id = %s and attachment_id = %s"
        ).format(_TABLE),
        (reason[:MAX_ERROR_CHARS], item.base_id, item.attachment_id),
    )


def purgeable(cur: Cursor, retention_seconds: float, limit: int) -> list[Purgeable]:
    """Tombstoned entries past retention whose bytes are still kept (or were never copied)."""
    cur.execute(
        sql.SQL(
            "select base_id, attachment_id, store_key, "
            "coalesce(array(select t->>'key' from jsonb_each(thumbnails) e(v, t) where t ? 'key'), '{{}}') "
            "from {} where tombstoned_at is not null and purged_at is null "
            "and tombstoned_at < now() - make_interval(secs => %s) order by tombstoned_at limit %s"
        ).format(_TABLE),
        (retention_seconds, limit),
    )
    return [Purgeable(*row) for row in cur.fetchall()]


def mark_purged(cur: Cursor, item: Purgeable) -> None:
    cur.execute(
        sql.SQL(
            "update {} set purged_at = now() where base_id = %s and attachment_id = %s and tombstoned_at is not null"
        ).format(_TABLE),
        (item.base_id, item.attachment_id),
    )


@dataclass(frozen=True)
class BaseCounts:
    base_id: str
    live: int
    archived: int
    backlog: int  # live, not yet copied (pending)
    failed: int
    tombstoned: int
    purged: int
    archived_bytes: int  # files and thumbnails, as kept in the store
    oldest_pending_at: datetime | None


def counts(cur: Cursor, base_ids: list[str]) -> dict[str, BaseCounts]:
    cur.execute(
        sql.SQL(
            """
            select b.base_id,
                   count(a.*) filter (where a.tombstoned_at is null),
                   count(a.*) filter (where a.tombstoned_at is null and a.status = 'archived'),
                   count(a.*) filter (where a.tombstoned_at is null and a.status = 'pending'),
                   count(a.*) filter (where a.tombstoned_at is null and a.status = 'failed'),
                   count(a.*) filter (where a.tombstoned_at is not null and a.purged_at is null),
                   count(a.*) filter (where a.purged_at is not null),
                   coalesce(sum(a.stored_bytes + coalesce(
                       (select sum((t.value->>'size')::bigint) from jsonb_each(a.thumbnails) t), 0))
                     filter (where a.status = 'archived' and a.purged_at is null), 0),
                   min(a.first_seen_at) filter (where a.tombstoned_at is null and a.status = 'pending')
              from unnest(%s::text[]) b(base_id) left join {} a on a.base_id = b.base_id
             group by b.base_id
            """
        ).format(_TABLE),
        (base_ids,),
    )
    return {row[0]: BaseCounts(*row[:7], int(row[7]), row[8]) for row in cur.fetchall()}


def unverified(cur: Cursor, base_id: str, limit: int = 20) -> tuple[int, list[str]]:
    """Live attachments of ``base_id`` without a verified copy: how many, and the first few ids."""
    cur.execute(
        sql.SQL(
            "select attachment_id from {} where base_id = %s and tombstoned_at is null and status <> 'archived' "
            "order by attachment_id"
        ).format(_TABLE),
        (base_id,),
    )
    ids = [row[0] for row in cur.fetchall()]
    return len(ids), ids[:limit]


@dataclass(frozen=True)
class ArchivedCopy:
    store_key: str
    filename: str
    content_type: str | None
    size: int | None


def archived_copy(cur: Cursor, attachment_id: str) -> ArchivedCopy | None:
    """The verified copy of ``attachment_id`` (any base's; bytes not purged), for an upload to another record."""
    cur.execute(
        sql.SQL(
            "select store_key, filename, content_type, stored_bytes from {} where attachment_id = %s "
            "and status = 'archived' and store_key is not null and purged_at is null order by archived_at desc limit 1"
        ).format(_TABLE),
        (attachment_id,),
    )
    row = cur.fetchone()
    return ArchivedCopy(*row) if row else None


@dataclass(frozen=True)
class ServedCopy:
    """What ``airtable-pg api`` needs to serve an archived attachment (a row of the ``attachment_archive`` view)."""

    store_key: str
    filename: str
    content_type: str | None
    size: int | None
    sha256: str | None
    thumbnails: dict[str, Any]  # variant → {key, sha256, size, width, height, url}


def served_copy(cur: Cursor, base_id: str, attachment_id: str) -> ServedCopy | None:
    """The verified copy of one attachment, as ``airtable_sync.attachment_archive`` lists it (tombstoned ones too,
    until their bytes are purged); ``None`` when there is none (not archived yet, failed, purged, unknown)."""
    cur.execute(
        sql.SQL(
            "select path, filename, content_type, size, sha256, coalesce(thumbnails, '{{}}'::jsonb) "
            "from {} where base_id = %s and attachment_id = %s"
        ).format(state_table("attachment_archive")),
        (base_id, attachment_id),
    )
    row = cur.fetchone()
    return None if row is None else ServedCopy(*row)
