"""The runtime, built in one place: a database at the code's migration heads, Airtable behind the shared bucket.

Every runtime entry point — the commands, the Dagster resource, the benchmarks, the test fixtures — takes its
engines from a :class:`Runtime` rather than wiring settings → client → rate limiter → database by hand, so the
next entry point cannot forget a part: building one refuses a database behind the code's migrations
(``MigrationsPending``; nothing at runtime migrates), the database URL is the selected environment's (TLS rides in
its libpq parameters), and every Airtable client takes its slots from the per-base bucket in that database, which
all processes share. Plain Python: no Dagster here (``defs.resources`` wraps it for Dagster).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pyairtable import Api

from airtable_pg.airtable.client import AirtableConfig, RequestStats, make_api
from airtable_pg.archive.config import ArchiveConfig
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.migrate import mirror_versions
from airtable_pg.postgres.revisions import require_migrated
from airtable_pg.settings import MISSING_API_KEY, ConfigError, Settings
from airtable_pg.spec import SyncSpec, load_spec
from airtable_pg.sync.outbound import OutboundConfig, OutboundPusher
from airtable_pg.sync.uploads import UploadSources

if TYPE_CHECKING:  # the engines import what they need only when a command asks for them
    from collections.abc import Callable

    from starlette.applications import Starlette

    from airtable_pg.archive.archiver import Archiver
    from airtable_pg.checks.context import CheckContext
    from airtable_pg.sync.engine import SyncEngine
    from airtable_pg.sync.live import LiveSync
    from airtable_pg.sync.table_sync import ProgressEvent


@dataclass(frozen=True)
class Runtime:
    """What every runtime entry point works with; make one with :meth:`open` or :meth:`from_settings`."""

    spec: SyncSpec
    database_url: str  # at the code's migration heads: checked by open()
    airtable_config: AirtableConfig | None  # None: no token configured (commands that only read Postgres)
    workers: int = Settings.model_fields["workers"].default
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    receiver_url: str | None = None
    shadow_share: float = Settings.model_fields["shadow_share"].default
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    api_write_wait_seconds: float = Settings.model_fields["api_write_wait_seconds"].default

    @classmethod
    def open(
        cls,
        spec: SyncSpec,
        database_url: str,
        airtable: AirtableConfig | None,
        *,
        migrations: Path,
        workers: int = Settings.model_fields["workers"].default,
        outbound: OutboundConfig | None = None,
        receiver_url: str | None = None,
        shadow_share: float = Settings.model_fields["shadow_share"].default,
        archive: ArchiveConfig | None = None,
        api_write_wait_seconds: float = Settings.model_fields["api_write_wait_seconds"].default,
    ) -> Runtime:
        """A runtime on ``database_url``, once it is at the heads of ``migrations`` and the state branch."""
        require_migrated(database_url, migrations)
        airtable = airtable.for_spec(spec) if airtable is not None else None  # the spec's share of each base
        outbound, archive = outbound or OutboundConfig(), archive or ArchiveConfig()
        return cls(
            spec, database_url, airtable, workers, outbound, receiver_url, shadow_share, archive, api_write_wait_seconds
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        database_url: str,
        spec: SyncSpec | None = None,
        migrations: Path | None = None,
    ) -> Runtime:
        """The runtime the settings describe (the spec and migrations they name unless given)."""
        airtable = AirtableConfig.from_settings(settings) if settings.airtable_api_key is not None else None
        return cls.open(
            spec or load_spec(settings.spec_path),
            database_url,
            airtable,
            migrations=migrations or mirror_versions(settings),
            workers=settings.workers,
            outbound=OutboundConfig.from_settings(settings),
            receiver_url=settings.receiver_url,
            shadow_share=settings.shadow_share,
            archive=ArchiveConfig.from_settings(settings),
            api_write_wait_seconds=settings.api_write_wait_seconds,
        )

    # -- the parts -------------------------------------------------------------------------------------

    @property
    def db(self) -> sa.Engine:
        return connection_pool(self.database_url)

    @property
    def airtable(self) -> AirtableConfig:
        if self.airtable_config is None:  # built without a token: only Postgres-only work may use it
            raise ConfigError(MISSING_API_KEY)
        return self.airtable_config

    def api(self, *, lane: str = "standard", cancel: threading.Event | None = None) -> Api:
        """A pyairtable client whose every request takes a slot from its base's shared bucket."""
        return make_api(self.airtable, self.airtable.rate_limiter(self.db), RequestStats(), cancel=cancel, lane=lane)

    def pusher(self, *, after_answer: Callable[[], None] | None = None) -> OutboundPusher:
        """An outbound pusher with a client of its own (pushers in parallel overlap Airtable's latency)."""
        uploads = UploadSources(self.archive, self.outbound.upload_dir)  # archived copies and AIRTABLE_PG_UPLOAD_DIR
        api = self.api(lane="outbound")
        return OutboundPusher(self.spec, self.db, api, self.outbound, after_answer=after_answer, uploads=uploads)

    def sync_engine(
        self, *, workers: int | None = None, progress: Callable[[ProgressEvent], None] | None = None, **tuning: object
    ) -> SyncEngine:
        """The inbound sync engine; close it (or leave its ``with`` block) to cancel what still runs."""
        from airtable_pg.sync.engine import SyncEngine

        return SyncEngine(
            self.spec, self.database_url, self.airtable, workers=workers or self.workers, progress=progress, **tuning
        )

    def live(self) -> LiveSync:
        """Webhook care and payload application for every base."""
        from airtable_pg.sync.live import LiveSync

        return LiveSync(self.spec, self.database_url, self.airtable, workers=self.workers)

    def checks(self) -> CheckContext:
        """The cutover gates' context; set its ``cancel`` to stop Airtable requests still waiting."""
        from airtable_pg.checks.context import CheckContext

        return CheckContext(self.spec, self.db, self.airtable)

    def api_app(self) -> Starlette:
        """The Airtable Web API served from this runtime's mirror (``airtable-pg api``): reads need no Airtable token;
        writes to Airtable-authoritative tables are forwarded with this runtime's client (the shared bucket), writes to
        Postgres-authoritative ones written to the mirror and pushed by an outbound pusher of the same client."""
        from airtable_pg.api.app import build_app

        airtable = self.api if self.airtable_config is not None else None
        return build_app(
            self.spec,
            self.database_url,
            airtable,
            shadow_share=self.shadow_share,
            archive=self.archive,
            outbound=self.outbound,
            write_wait_seconds=self.api_write_wait_seconds,
        )

    def archiver(self) -> Archiver:
        """The attachment archive; with a token, it re-reads records for fresh URLs through the shared bucket."""
        from airtable_pg.archive.archiver import Archiver

        api = self.api if self.airtable_config is not None else None
        return Archiver(self.spec, self.db, self.archive, api)
