"""The receiver served by uvicorn in a background thread: for tests and for processes that run it beside others."""

from __future__ import annotations

import signal
import socket
import threading
import time
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from airtable_pg.receiver.app import WEBHOOK_PATH

STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0
LISTEN_BACKLOG = 2048  # uvicorn's own default


def bind_socket(host: str, port: int) -> socket.socket:
    """Listening before uvicorn runs: the port is known (0 picks a free one) and a bind error raised right away."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)  # connections queue from now on, before uvicorn serves them
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(app: Starlette) -> uvicorn.Server:
    """Our own log lines say what happened to each notification; uvicorn's access log would repeat them."""
    # lifespan "auto": an app with a lifespan (the API closes its shadow readers) gets its shutdown; others need none
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="auto", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve_in_foreground(app: Starlette, sock: socket.socket) -> None:
    """uvicorn serving ``app`` on ``sock`` in this thread until Ctrl-C or SIGTERM, then return (the socket closed).

    uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found; ours (and
    Ctrl-C's KeyboardInterrupt) end here, as does a signal that arrives before uvicorn took over: the command exits 0.
    """
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


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ReceiverServer:
    """``start()`` binds ``host:port`` (0 picks a free port) and returns the base URL once uvicorn serves."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the receiver is not started")
        return self._port

    @property
    def url(self) -> str:
        return base_url(self._host, self.port)

    @property
    def webhook_url(self) -> str:
        """The notification URL to give Airtable (behind your HTTPS proxy in production)."""
        return self.url + WEBHOOK_PATH

    def start(self) -> str:
        if self._thread is not None:
            raise RuntimeError("the receiver is already started")
        self._socket = bind_socket(self._host, self._requested_port)
        self._port = self._socket.getsockname()[1]
        self._server = uvicorn_server(self._app)  # outside the main thread uvicorn installs no signal handlers
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="airtable-pg-receiver", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None

    def __enter__(self) -> ReceiverServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
