"""What one airtable_pg instance calls the things it adds to a Dagster project.

A project may hold several instances (one per spec file): each one's jobs, ops, sensors, schedules, resource and
asset keys carry its prefix, so two never collide. Without a prefix (this repository's own code location) the names
are the plain ones the docs and the UI tests use: ``full_sync_all``, ``poll_coaching__users``,
``airtable/coaching/users``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey

from airtable_pg.defs.lineage import ASSET_PREFIX
from airtable_pg.names import DAGSTER_PREFIX as _PREFIX

RESOURCE = "airtable_pg"


@dataclass(frozen=True)
class Names:
    prefix: str | None = None

    def __post_init__(self) -> None:
        if self.prefix is not None and not _PREFIX.match(self.prefix):
            raise ValueError(f"prefix must be letters, digits and underscores, starting with a letter: {self.prefix!r}")

    def __call__(self, name: str) -> str:
        """A job's, op's, sensor's or check's name in this instance."""
        return f"{self.prefix}__{name}" if self.prefix else name

    @property
    def resource(self) -> str:
        """The key of this instance's runtime resource."""
        return self(RESOURCE)

    def table_asset_key(self, base_key: str, table_key: str) -> AssetKey:
        return AssetKey([*([self.prefix] if self.prefix else []), ASSET_PREFIX, base_key, table_key])

    def table_label(self, base_key: str, table_key: str) -> str:
        """``base.table`` as run tags name it (``prefix:base.table`` in a prefixed instance)."""
        return f"{self.prefix}:{base_key}.{table_key}" if self.prefix else f"{base_key}.{table_key}"


DEFAULT = Names()
