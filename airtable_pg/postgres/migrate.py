"""Alembic without an ini file: the package's state revisions plus the spec's mirror revisions, one database.

Two branches share one version table (see ``airtable_pg/state_schema/env.py``): ``state`` (shipped here) and
``mirror`` (the user's directory, ``AIRTABLE_PG_MIGRATIONS``; the demo spec's ship in the package). Upgrading
means ``heads``: both branches.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import Script

from airtable_pg.postgres.alembic_setup import DEMO_VERSIONS, alembic_config
from airtable_pg.postgres.revisions import publish_revisions
from airtable_pg.settings import ConfigError, Settings

# Where the revisions live and Alembic's configuration are alembic_setup's; the commands and tests import them here.
__all__ = ["DEMO_VERSIONS", "alembic_config", "autogenerate", "config_for", "downgrade", "mirror_versions", "upgrade"]
MIRROR_BRANCH = "mirror"


def mirror_versions(settings: Settings) -> Path:
    """Where the spec's mirror revisions live: yours (``AIRTABLE_PG_MIGRATIONS``), or the demo's."""
    if settings.migrations_path is not None:
        return settings.migrations_path.resolve()
    if settings.spec_path is None:
        return DEMO_VERSIONS
    raise ConfigError(
        "AIRTABLE_PG_MIGRATIONS is not set: a spec of your own (AIRTABLE_PG_SPEC) keeps its mirror-table "
        "migrations in a directory of your own; point AIRTABLE_PG_MIGRATIONS at it (it may be empty at first)"
    )


def config_for(settings: Settings, url: str) -> Config:
    return alembic_config(url, versions=mirror_versions(settings), spec_path=settings.spec_path)


def upgrade(config: Config, revision: str = "heads") -> None:
    command.upgrade(config, revision)
    _publish(config)


def downgrade(config: Config, revision: str) -> None:
    command.downgrade(config, revision)
    _publish(config)


def _publish(config: Config) -> None:
    """Let the runtime role learn which revisions are applied (it may not read Alembic's table itself)."""
    publish_revisions(config.get_main_option("sqlalchemy.url"))  # type: ignore[arg-type]


def revision_directory(settings: Settings) -> Path:
    """Where ``db revision`` writes: the user's own directory, never the installed package (whose demo revisions
    would change under every installation sharing it, and vanish with the next upgrade of the package)."""
    if settings.migrations_path is None:
        raise ConfigError(
            "db revision writes into your own migrations directory: set AIRTABLE_PG_MIGRATIONS to it "
            "(e.g. export AIRTABLE_PG_MIGRATIONS=$PWD/migrations, kept in git); the demo's revisions in the "
            "package are never written"
        )
    return settings.migrations_path.resolve()


def autogenerate(config: Config, message: str, versions: Path, *, empty: bool = False) -> Script | None:
    """A mirror-branch revision from the spec's changes (the branch starts with the directory's first one).

    ``None`` when nothing changed and ``empty`` is false: no file is written."""
    versions.mkdir(parents=True, exist_ok=True)
    started = any(versions.glob("*.py"))
    config.attributes["allow_empty"] = empty  # read by env.py's drop_if_empty, for this command only
    try:
        script = command.revision(
            config,
            message=message,
            autogenerate=True,
            head=f"{MIRROR_BRANCH}@head" if started else "base",
            branch_label=None if started else MIRROR_BRANCH,
            version_path=str(versions),
        )
    finally:
        del config.attributes["allow_empty"]  # `db check` on the same config must see every diff
    return script if isinstance(script, Script) else None  # an empty list: the revision was dropped
