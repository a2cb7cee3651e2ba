"""Where the revisions live, and Alembic's configuration over them (no ini file).

Two branches share one version table (see ``airtable_pg/state_schema/env.py``): ``state`` (shipped in the package)
and ``mirror`` (the user's directory; the demo spec's ship in the package). Both :mod:`.migrate` (which changes a
database) and :mod:`.revisions` (which only reads where one stands) start from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic.config import Config

from airtable_sandbox.demo_project import DEMO_MIGRATIONS

PACKAGE = Path(__file__).resolve().parents[1]
SCRIPT_LOCATION = PACKAGE / "state_schema"
STATE_VERSIONS = SCRIPT_LOCATION / "state"
DEMO_VERSIONS = DEMO_MIGRATIONS


def alembic_config(url: str, *, versions: Path, spec_path: str | os.PathLike[str] | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join([str(STATE_VERSIONS), str(versions)]))
    if spec_path:
        config.attributes["spec_path"] = str(spec_path)
    # '%' is ConfigParser interpolation syntax; a password may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config
