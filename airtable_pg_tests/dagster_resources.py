"""The runtime resource as the tests bind it: the sandbox (or an address nothing answers), a test database."""

from __future__ import annotations

from airtable_pg.defs.names import RESOURCE
from airtable_pg.defs.resources import AirtablePgResource
from airtable_pg.postgres.migrate import DEMO_VERSIONS


def runtime_resource(
    api_url: str, api_key: str, database_url: str, *, requests_per_second: float = 50.0
) -> AirtablePgResource:
    """Tests of behaviour need not wait at Airtable's pace: 50 requests/s unless a test is about the rate limit."""
    return AirtablePgResource(
        airtable_api_key=api_key,
        database_url=database_url,
        migrations_path=str(DEMO_VERSIONS),
        settings={"AIRTABLE_API_URL": api_url, "AIRTABLE_PG_RATE_LIMIT": str(requests_per_second)},
    )


def runtime_resources(
    api_url: str, api_key: str, database_url: str, *, requests_per_second: float = 50.0
) -> dict[str, AirtablePgResource]:
    """``resources=`` of an unprefixed instance (this repository's code location)."""
    return {RESOURCE: runtime_resource(api_url, api_key, database_url, requests_per_second=requests_per_second)}
