"""Dagster resources: how the code location reaches Airtable and Postgres.

Secrets are bound with ``EnvVar``: Dagster resolves them in the run worker at run time, and the UI,
the run config and the event log only ever show the variable's *name*. Nothing here logs a value.
"""

from __future__ import annotations

import os

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from airtable_pg.airtable.client import (
    DEFAULT_API_URL,
    DEFAULT_PENALTY_SECONDS,
    DEFAULT_REQUESTS_PER_SECOND,
    AirtableConfig,
)
from airtable_pg.config import rate_limit_settings
from airtable_pg.postgres.database import redact


class AirtableResource(ConfigurableResource):
    """The Airtable Web API (or the sandbox) and the share of its rate limit this code location may use."""

    api_key: str = Field(description="Personal access token; bind it with EnvVar('AIRTABLE_API_KEY').")
    api_url: str = Field(default=DEFAULT_API_URL, description="API root (the sandbox's URL in development).")
    requests_per_second: float = Field(
        default=DEFAULT_REQUESTS_PER_SECOND, gt=0, description="Airtable allows 5 requests/s per base."
    )
    penalty_seconds: float = Field(
        default=DEFAULT_PENALTY_SECONDS, ge=0, description="How long Airtable blocks a base after a 429."
    )
    rate_margin_ms: float = Field(
        default=8.0, ge=0, description="Added to each request slot's 200 ms spacing, against network jitter."
    )
    workers: int = Field(default=8, ge=1, description="Requests in flight per table sync (hides network latency).")

    def client_config(self) -> AirtableConfig:
        return AirtableConfig(
            api_key=self.api_key,
            api_url=self.api_url,
            requests_per_second=self.requests_per_second,
            penalty_seconds=self.penalty_seconds,
            rate_margin_seconds=self.rate_margin_ms / 1000,
        )


class PostgresResource(ConfigurableResource):
    """The database holding the mirror tables and the ``airtable_sync`` state schema."""

    database_url: str = Field(description="libpq URL; bind it with EnvVar('DATABASE_URL') (it may hold a password).")

    @property
    def display_url(self) -> str:
        """The URL with its password masked: the only form that may reach a log line."""
        return redact(self.database_url)


def airtable_resource_from_env() -> AirtableResource:
    # EnvVar has no default, so the public API is the fallback only when the variable is absent
    # at load time; a URL is not a secret, so it may then appear as a literal in the UI.
    api_url = EnvVar("AIRTABLE_API_URL") if os.environ.get("AIRTABLE_API_URL") else DEFAULT_API_URL
    # The same rate settings as `airtable-pg sync`: every process sharing a base must pace alike.
    rates = rate_limit_settings(os.environ)
    return AirtableResource(
        api_key=EnvVar("AIRTABLE_API_KEY"),
        api_url=api_url,
        requests_per_second=rates.requests_per_second,
        penalty_seconds=rates.penalty_seconds,
        rate_margin_ms=rates.margin_seconds * 1000,
    )


def postgres_resource_from_env() -> PostgresResource:
    return PostgresResource(database_url=EnvVar("DATABASE_URL"))
