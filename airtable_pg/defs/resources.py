"""Dagster resources: how the code location reaches Airtable and Postgres, and the sync engine built on them.

Secrets are bound with ``EnvVar``: Dagster resolves them in the run worker at run time, and the UI,
the run config and the event log only ever show the variable's *name*. Every other value comes from the
same :class:`~airtable_pg.settings.Settings` the commands use, so every process paces a base alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from airtable_pg.airtable.client import AirtableConfig
from airtable_pg.checks.context import CheckContext
from airtable_pg.postgres.database import connection_pool, redact
from airtable_pg.postgres.migrate import DEMO_VERSIONS, mirror_versions
from airtable_pg.postgres.revisions import require_migrated
from airtable_pg.settings import DEFAULT_API_URL, Settings
from airtable_pg.spec import SyncSpec
from airtable_pg.sync.engine import SyncEngine

_DEFAULTS = Settings.model_fields


class AirtableResource(ConfigurableResource):
    """The Airtable Web API (or the sandbox) and the share of its rate limit this code location may use."""

    api_key: str = Field(description="Personal access token; bind it with EnvVar('AIRTABLE_API_KEY').")
    api_url: str = Field(default=DEFAULT_API_URL, description="API root (the sandbox's URL in development).")
    requests_per_second: float = Field(
        default=_DEFAULTS["requests_per_second"].default, gt=0, description="Airtable allows 5 requests/s per base."
    )
    penalty_seconds: float = Field(
        default=_DEFAULTS["penalty_seconds"].default, ge=0, description="How long Airtable blocks a base after a 429."
    )
    rate_margin_ms: float = Field(
        default=_DEFAULTS["rate_margin_ms"].default,
        ge=0,
        description="Added to each request slot's 200 ms spacing, against network jitter.",
    )
    fast_lane_share: float = Field(
        default=_DEFAULTS["fast_lane_share"].default,
        ge=0,
        description="Requests/s of each base's limit held for fast-lane tables (AIRTABLE_PG_FAST_LANE_SHARE).",
    )
    workers: int = Field(
        default=_DEFAULTS["workers"].default, ge=1, description="Requests in flight per table sync (hides latency)."
    )

    def client_config(self) -> AirtableConfig:
        return AirtableConfig(
            api_key=self.api_key,
            api_url=self.api_url,
            requests_per_second=self.requests_per_second,
            penalty_seconds=self.penalty_seconds,
            rate_margin_seconds=self.rate_margin_ms / 1000,
            fast_lane_share=self.fast_lane_share,
        )


class PostgresResource(ConfigurableResource):
    """The database holding the mirror tables and the ``airtable_sync`` state schema."""

    database_url: str = Field(description="libpq URL; bind it with EnvVar('DATABASE_URL') (it may hold a password).")
    migrations_path: str | None = Field(
        default=None,
        description="The mirror branch's revisions (AIRTABLE_PG_MIGRATIONS); unset: the demo's. The database must "
        "be at their heads and the state branch's before any run or sensor works.",
    )

    @property
    def display_url(self) -> str:
        """The URL with its password masked: the only form that may reach a log line."""
        return redact(self.database_url)

    def migrated_url(self) -> str:
        """The URL, once the database is at this code's migration heads (else ``MigrationsPending``)."""
        versions = Path(self.migrations_path) if self.migrations_path else DEMO_VERSIONS
        require_migrated(self.database_url, versions)
        return self.database_url


class SyncEngineResource(ConfigurableResource):
    """The sync engine of :mod:`airtable_pg.sync`, on the Airtable and Postgres resources."""

    airtable: AirtableResource
    postgres: PostgresResource

    @contextmanager
    def open(self, spec: SyncSpec) -> Iterator[SyncEngine]:
        """An engine for one step; leaving the block cancels what still runs (a terminated run tombstones nothing)."""
        engine = SyncEngine(
            spec, self.postgres.migrated_url(), self.airtable.client_config(), workers=self.airtable.workers
        )
        try:
            yield engine
        finally:
            engine.close()


class CheckRunnerResource(ConfigurableResource):
    """The cutover gates of :mod:`airtable_pg.checks`, on the same Airtable (and rate limit) and Postgres."""

    airtable: AirtableResource
    postgres: PostgresResource

    @contextmanager
    def open(self, spec: SyncSpec) -> Iterator[CheckContext]:
        """A check context for one step; leaving the block cancels Airtable requests still waiting."""
        context = CheckContext(spec, connection_pool(self.postgres.migrated_url()), self.airtable.client_config())
        try:
            yield context
        finally:
            context.cancel.set()


def airtable_resource(settings: Settings) -> AirtableResource:
    # A URL is not a secret: bound as a literal so the UI shows where the code location points.
    return AirtableResource(
        api_key=EnvVar("AIRTABLE_API_KEY"),
        api_url=settings.airtable_api_url,
        requests_per_second=settings.requests_per_second,
        penalty_seconds=settings.penalty_seconds,
        rate_margin_ms=settings.rate_margin_ms,
        fast_lane_share=settings.fast_lane_share,
        workers=settings.workers,
    )


def postgres_resource(settings: Settings) -> PostgresResource:
    # The selected environment's variable (DATABASE_URL or DATABASE_URL_STAGING), resolved in the run worker.
    return PostgresResource(
        database_url=EnvVar(settings.database_variable), migrations_path=str(mirror_versions(settings))
    )


def resources(settings: Settings) -> dict[str, ConfigurableResource]:
    airtable, postgres = airtable_resource(settings), postgres_resource(settings)
    return {
        "airtable": airtable,
        "postgres": postgres,
        "sync_engine": SyncEngineResource(airtable=airtable, postgres=postgres),
        "check_runner": CheckRunnerResource(airtable=airtable, postgres=postgres),
    }
