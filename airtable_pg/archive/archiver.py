"""The archiver: find the mirror's attachments, copy the due ones, tombstone and purge the ones Airtable dropped.

A run is ``reconcile`` (read every attachment field of the mirror into ``airtable_sync.attachment``) then
``copy_due`` (claim due entries, copy each in a pool of download threads). A copy whose URL has expired (Airtable
answers a 4xx) re-reads its record through the shared per-base bucket — the only Airtable API request the
archive makes, in the standard lane, so the fast lane keeps its held slots — and copies from the fresh URL; a
record or attachment no longer in Airtable is tombstoned instead. Failures back off and, after
``max_attempts``, are marked failed (counted in the Dagster asset and failing its check).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from psycopg import sql
from pyairtable import Api

from airtable_pg.airtable.content import DownloadFailed, UrlExpired
from airtable_pg.airtable.errors import AirtableError, AirtableNotFound, airtable_errors
from airtable_pg.airtable.types import ATTACHMENT_TYPE
from airtable_pg.archive.config import ArchiveConfig
from airtable_pg.archive.copier import VerifyFailed, copy_attachment, copy_thumbnails
from airtable_pg.archive.store import ArchiveStore
from airtable_pg.postgres import attachments
from airtable_pg.postgres.attachments import Attachment, BaseCounts
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import SyncSpec, TableSpec

log = logging.getLogger(__name__)

_COPY_ERRORS = (UrlExpired, DownloadFailed, VerifyFailed, AirtableError, OSError)


def attachment_fields(table: TableSpec) -> list[str]:
    return [f.id for f in table.fields.values() if f.type == ATTACHMENT_TYPE]


@dataclass(frozen=True)
class Source:
    """Where to download an attachment from now: its URL and its thumbnails' (all expire together)."""

    url: str
    thumbnails: dict[str, Any] | None


@dataclass
class ArchiveReport:
    archived: int = 0
    bytes: int = 0  # files and thumbnails
    refreshed: int = 0  # URLs that had expired, read again from Airtable
    tombstoned: int = 0  # found gone from Airtable while copying
    failed: int = 0  # attempts that failed (each retried later, or given up)
    seconds: float = 0.0
    by_base: dict[str, int] = field(default_factory=dict)  # archived per base

    def add(self, other: ArchiveReport) -> None:
        for name in ("archived", "bytes", "refreshed", "tombstoned", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for base_id, count in other.by_base.items():
            self.by_base[base_id] = self.by_base.get(base_id, 0) + count


@dataclass
class PurgeReport:
    purged: int = 0
    partials_removed: int = 0


class Archiver:
    def __init__(
        self,
        spec: SyncSpec,
        db: sa.Engine,
        config: ArchiveConfig,
        api: Callable[[], Api] | None = None,
        *,
        store: ArchiveStore | None = None,
    ) -> None:
        self.spec = spec
        self.db = db
        self.config = config
        self.store = store or ArchiveStore(config)
        self._make_api = api  # None: no token (status only); a copy whose URL expired then fails and retries
        self._local = threading.local()  # one pyairtable client per download thread

    def base_ids(self, only: list[str] | None = None) -> list[str]:
        return [b.id for b in self.spec.bases.values() if not only or b.id in only or b.key in only]

    # -- finding attachments ---------------------------------------------------------------------------

    def reconcile(self, base_ids: list[str] | None = None) -> None:
        """Bring the state table up to the mirror: new attachments pending, dropped ones tombstoned."""
        wanted = self.base_ids(base_ids)
        for base, table in self.spec.tables():
            fields = attachment_fields(table)
            if base.id not in wanted or not fields:
                continue
            with transaction(self.db) as cur:
                attachments.reconcile(cur, base.id, table.id, sql.Identifier(base.schema, table.mirror), fields)

    # -- copying ---------------------------------------------------------------------------------------

    def run(self, base_ids: list[str] | None = None, *, stop: threading.Event | None = None) -> ArchiveReport:
        self.reconcile(base_ids)
        return self.copy_due(base_ids, stop=stop)

    def copy_due(self, base_ids: list[str] | None = None, *, stop: threading.Event | None = None) -> ArchiveReport:
        """Copy every due attachment (claimed a batch at a time) until none is due or ``stop`` is set."""
        started = time.monotonic()
        report = ArchiveReport()
        bases = self.base_ids(base_ids)
        with ThreadPoolExecutor(self.config.workers, thread_name_prefix="archive") as pool:
            while stop is None or not stop.is_set():
                with transaction(self.db) as cur:
                    batch = attachments.claim(cur, bases, self.config.batch, self.config.lease_seconds)
                if not batch:
                    break
                for outcome in pool.map(self._copy_one, batch):
                    report.add(outcome)
        report.seconds = time.monotonic() - started
        return report

    def _copy_one(self, item: Attachment) -> ArchiveReport:
        report = ArchiveReport()
        source: Source | None = Source(item.source_url, item.source_thumbnails) if item.source_url else None
        try:
            for fresh in (False, True):
                if source is None or fresh:
                    source = self._fresh_source(item)
                    report.refreshed += 1
                    if source is None:
                        report.tombstoned += 1
                        return report
                try:
                    copied = copy_attachment(self.store, item, source.url)
                    thumbnails = copy_thumbnails(self.store, item, source.thumbnails)
                    break
                except UrlExpired:
                    if fresh:
                        raise
        except _COPY_ERRORS as error:
            give_up = item.attempts >= self.config.max_attempts
            # The message names the kind of failure, never the URL: a signed URL grants access while it lives.
            log.warning("archive: %s of %s failed (attempt %d): %s", item.attachment_id, item.base_id,
                        item.attempts, error)  # fmt: skip
            with transaction(self.db) as cur:
                attachments.mark_failed(
                    cur, item, f"{type(error).__name__}: {error}", retry_in_seconds=self.config.retry_in(item.attempts),
                    give_up=give_up,
                )  # fmt: skip
            report.failed += 1
            return report
        with transaction(self.db) as cur:
            attachments.mark_archived(
                cur, item, store_key=copied.key, store_url=copied.url, sha256=copied.sha256, stored_bytes=copied.size,
                thumbnails=thumbnails,
            )  # fmt: skip
        report.archived, report.by_base = 1, {item.base_id: 1}
        report.bytes = copied.size + sum(t["size"] for t in thumbnails.values())
        return report

    def _fresh_source(self, item: Attachment) -> Source | None:
        """Read the record again (through the shared bucket) for fresh URLs; ``None``: tombstoned, it is gone."""
        if self._make_api is None:
            raise UrlExpired("the URL expired and no Airtable token is configured to read a fresh one")
        api = getattr(self._local, "api", None)
        if api is None:
            api = self._local.api = self._make_api()
        try:
            with airtable_errors():
                record = api.table(item.base_id, item.table_id).get(item.record_id, use_field_ids=True)
        except AirtableNotFound:
            self._tombstone(item, "the record is gone from Airtable")
            return None
        cell = record.get("fields", {}).get(item.field_id)
        for candidate in cell if isinstance(cell, list) else []:
            if isinstance(candidate, dict) and candidate.get("id") == item.attachment_id and candidate.get("url"):
                thumbnails = candidate.get("thumbnails") if isinstance(candidate.get("thumbnails"), dict) else None
                with transaction(self.db) as cur:
                    attachments.refresh_url(cur, item, candidate["url"], thumbnails)
                return Source(str(candidate["url"]), thumbnails)
        self._tombstone(item, "the attachment is no longer in its cell")
        return None

    def _tombstone(self, item: Attachment, reason: str) -> None:
        with transaction(self.db) as cur:
            attachments.tombstone(cur, item, reason)

    # -- retention -------------------------------------------------------------------------------------

    def purge(self, *, limit: int = 1000) -> PurgeReport:
        """Remove the bytes of attachments tombstoned longer than the retention, and partials of killed copiers."""
        report = PurgeReport()
        with transaction(self.db) as cur:
            due = attachments.purgeable(cur, self.config.retention_seconds, limit)
        for item in due:
            for key in [item.store_key, *item.thumbnail_keys]:
                if key:
                    self.store.delete(key)
            with transaction(self.db) as cur:
                attachments.mark_purged(cur, item)
            report.purged += 1
        for path in self.store.stale_partials(self.config.lease_seconds):
            self.store.remove(path)
            report.partials_removed += 1
        return report

    # -- what there is ---------------------------------------------------------------------------------

    def counts(self, base_ids: list[str] | None = None) -> dict[str, BaseCounts]:
        with transaction(self.db) as cur:
            return attachments.counts(cur, self.base_ids(base_ids))

    def unverified(self, base_id: str) -> tuple[int, list[str]]:
        with transaction(self.db) as cur:
            return attachments.unverified(cur, base_id)
