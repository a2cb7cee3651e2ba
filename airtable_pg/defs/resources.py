"""The Dagster resource of an airtable_pg instance: the runtime (``airtable_pg.runtime``), built at run time.

One resource holds what the runtime is made of: the two secrets, bound with ``EnvVar`` (Dagster resolves them in the
run worker or the sensor's process, and the UI, the run config and the event log only ever show the variable's
*name*), the directory of the mirror's migrations, and every other setting by its environment variable
(``AIRTABLE_API_URL``, ``AIRTABLE_PG_RATE_LIMIT`` …) as the code location read them, so the UI shows where it
points and how it paces. Those become the same :class:`~airtable_pg.settings.Settings` the commands use (the rest
from the process's environment), so every process paces a base alike; each step or tick asks for a
:class:`~airtable_pg.runtime.Runtime`, which refuses a database behind the code's migrations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar, Failure, SkipReason
from pydantic import Field

from airtable_pg.defs.names import Names
from airtable_pg.postgres.database import redact
from airtable_pg.postgres.revisions import MigrationsPending
from airtable_pg.runtime import Runtime
from airtable_pg.settings import Settings, env_name, load_settings
from airtable_pg.spec import SyncSpec

# What a run or tick needs besides the secrets; the database and migrations are bound on their own fields.
RUNTIME_SETTINGS = (
    "airtable_api_url",
    "requests_per_second",
    "penalty_seconds",
    "rate_margin_ms",
    "fast_lane_share",
    "workers",
    "receiver_url",
    "outbound_max_attempts",
    "outbound_backoff_seconds",
    "outbound_backoff_max_seconds",
)


class AirtablePgResource(ConfigurableResource):
    """Airtable (or the sandbox) through the shared rate limit, and the Postgres mirror at the code's migrations."""

    airtable_api_key: str = Field(description="Personal access token; bind it with EnvVar('AIRTABLE_API_KEY').")
    database_url: str = Field(description="libpq URL; bind it with EnvVar('DATABASE_URL') (it may hold a password).")
    migrations_path: str = Field(
        description="The mirror branch's revisions. The database must be at their heads and the state branch's "
        "before any run or sensor works."
    )
    settings: dict[str, str] = Field(
        default_factory=dict,
        description="Other settings by environment variable (AIRTABLE_API_URL, AIRTABLE_PG_RATE_LIMIT, …; see the "
        "README's configuration table); what is not here comes from the process's environment.",
    )

    @property
    def display_url(self) -> str:
        """The URL with its password masked: the only form that may reach a log line."""
        return redact(self.database_url)

    def load_settings(self) -> Settings:
        environ = {**os.environ, **self.settings, "AIRTABLE_API_KEY": self.airtable_api_key}
        return load_settings(environ, use_dev_stack=False)

    def runtime(self, spec: SyncSpec) -> Runtime:
        """The runtime of one step or tick (``MigrationsPending`` while the database is behind the code)."""
        return Runtime.from_settings(
            self.load_settings(), database_url=self.database_url, spec=spec, migrations=Path(self.migrations_path)
        )

    def step_runtime(self, spec: SyncSpec) -> Runtime:
        """As :meth:`runtime`, for an op: a database behind the code fails the step at once with its one line
        (retrying cannot help; only the deploy step can)."""
        try:
            return self.runtime(spec)
        except MigrationsPending as pending:
            raise Failure(description=str(pending), allow_retries=False) from pending

    def sensor_runtime(self, spec: SyncSpec) -> Runtime | SkipReason:
        """As :meth:`runtime`, for a sensor: a database behind the code is one line on the tick, not an error;
        the next tick checks again."""
        try:
            return self.runtime(spec)
        except MigrationsPending as pending:
            return SkipReason(str(pending))


def runtime_resource(migrations: Path, settings: Settings | None = None) -> AirtablePgResource:
    """The resource as a code location binds it: secrets from the environment at run time, other settings
    as ``settings`` has them (none: all from the run's environment)."""
    database_variable = settings.database_variable if settings is not None else "DATABASE_URL"
    values: dict[str, str] = {}
    for name in RUNTIME_SETTINGS if settings is not None else ():
        value = getattr(settings, name)
        if value is not None:  # a URL is not a secret: bound as a literal so the UI shows where it points
            values[env_name(Settings.model_fields[name]) or name] = str(value)
    return AirtablePgResource(
        airtable_api_key=EnvVar("AIRTABLE_API_KEY"),
        database_url=EnvVar(database_variable),
        migrations_path=str(migrations),
        settings=values,
    )


def instance_resource(context: Any, names: Names) -> AirtablePgResource:
    """The runtime resource of the instance ``names`` belongs to, from an op's, check's or sensor's context."""
    return getattr(context.resources, names.resource)
