"""Serve an ASGI app in the foreground until Ctrl-C or SIGTERM (then return): ``receiver`` and ``metrics``."""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType

from starlette.applications import Starlette

from airtable_pg.receiver.server import uvicorn_server


def serve_foreground(app: Starlette, sock: socket.socket) -> None:
    # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found; ours (and
    # Ctrl-C's KeyboardInterrupt) end here, as does a signal that arrives before uvicorn took over.
    in_main_thread = threading.current_thread() is threading.main_thread()  # only there can signals be handled
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        uvicorn_server(app).run(sockets=[sock])
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        sock.close()


class _Terminated(Exception):
    """SIGTERM, outside uvicorn's own handling of it."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise _Terminated
