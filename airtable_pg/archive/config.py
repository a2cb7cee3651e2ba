"""The archive's settings, as the archiver uses them (from :class:`~airtable_pg.settings.Settings`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airtable_pg.settings import Settings

DEFAULT_DIRECTORY = "archive"  # under AIRTABLE_PG_HOME


@dataclass(frozen=True)
class ArchiveConfig:
    store_url: str = str(Path(".airtable_pg") / DEFAULT_DIRECTORY)  # a directory, or s3://bucket/prefix
    s3_endpoint_url: str | None = None  # an S3-compatible service (MinIO, R2, …); none: AWS
    public_url: str | None = None  # where the store is served from (a CDN); none: the store's own URL
    retention_seconds: float = 30 * 86400  # a tombstoned attachment's bytes are kept this long
    workers: int = 4  # downloads in flight
    max_attempts: int = 8  # failed copies of one attachment before it is marked failed
    backoff_seconds: float = 30.0  # the wait after a failed copy; doubles per attempt, up to an hour
    lease_seconds: float = 600.0  # a copier's claim on an attachment; a killed copier's claim runs out
    batch: int = 64  # attachments claimed at a time

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveConfig:
        return cls(
            store_url=settings.archive_url or str(settings.home / DEFAULT_DIRECTORY),
            s3_endpoint_url=settings.archive_s3_endpoint_url,
            public_url=settings.archive_public_url,
            retention_seconds=settings.archive_retention_days * 86400,
            workers=settings.archive_workers,
            max_attempts=settings.archive_max_attempts,
        )

    def retry_in(self, attempts: int) -> float:
        return min(3600.0, self.backoff_seconds * 2 ** max(0, attempts - 1))
