"""Downloading attachment content from Airtable's expiring URLs.

Content URLs (``v5.airtableusercontent.com``, or the sandbox's ``/_content/…``) are not API calls: Airtable's
rate limits do not count them, so downloads take no slot from the shared bucket. They are public and signed, so
no token is sent with them (a token must never leave for a host that is not the API). A URL stops working about
two hours after the read that returned it; Airtable answers such a URL with a 4xx (the sandbox: 410 "This URL
has expired"), and every 4xx is taken to mean "read the record again for a fresh URL" (:class:`UrlExpired`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import requests

CHUNK_BYTES = 256 * 1024
TIMEOUT_SECONDS = (10.0, 60.0)  # connect, and between two reads of the body


class UrlExpired(Exception):
    """The content URL no longer serves the file: read the record again for a fresh one."""


class DownloadFailed(Exception):
    """A passing failure (5xx, connection reset, timeout): try again later with the same URL."""


_local = threading.local()


def _session() -> requests.Session:
    # One keep-alive session per copier thread: requests' Session is not safe to share between threads.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def download(url: str, sink: Callable[[bytes], None]) -> None:
    """Stream the content at ``url`` into ``sink``, chunk by chunk (memory stays flat for a 1 GB file)."""
    try:
        with _session().get(url, stream=True, timeout=TIMEOUT_SECONDS) as response:
            if 400 <= response.status_code < 500:
                raise UrlExpired(f"content URL answered {response.status_code}")
            if response.status_code != 200:
                raise DownloadFailed(f"content URL answered {response.status_code}")
            for chunk in response.iter_content(CHUNK_BYTES):
                sink(chunk)
    except requests.RequestException as error:
        raise DownloadFailed(f"download failed: {type(error).__name__}") from error
