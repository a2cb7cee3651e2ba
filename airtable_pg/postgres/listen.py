"""Wake a loop the moment Postgres ``NOTIFY``s a channel, from any process (the receiver, a trigger)."""

from __future__ import annotations

import logging
import threading

import psycopg

from airtable_pg.postgres.database import libpq_url

log = logging.getLogger(__name__)


def listen(database_url: str, channel: str, wake: threading.Event, stop: threading.Event) -> None:
    """Set ``wake`` on every notification of ``channel`` until ``stop``; reconnects after a lost connection."""
    while not stop.is_set():
        try:
            with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
                conn.execute(f"listen {channel}")
                wake.set()  # anything that arrived before we listened
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        wake.set()
        except psycopg.Error:
            log.warning("lost the %s listener; polling only until it is back", channel, exc_info=True)
            stop.wait(5.0)


def start_listener(database_url: str, channel: str, stop: threading.Event) -> threading.Event:
    """A daemon thread running :func:`listen`; returns the event it sets."""
    wake = threading.Event()
    threading.Thread(
        target=listen, args=(database_url, channel, wake, stop), name=f"listen-{channel}", daemon=True
    ).start()
    return wake
