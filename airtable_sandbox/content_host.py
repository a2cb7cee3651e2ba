"""Sending pyairtable's attachment uploads to the sandbox.

pyairtable builds the upload URL from its ``endpoint_url`` and then replaces the host with ``content.airtable.com``
(``Table.urls.upload_attachment``), whatever that endpoint is: a client pointed at the sandbox would send its
uploads to Airtable's content host. ``send_content_host_to`` mounts a transport adapter on the client's requests
session that sends every request for that host to the sandbox instead, path and query unchanged, keeping the retry
strategy the session already had.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter

CONTENT_HOST = "content.airtable.com"


class _ToSandbox(HTTPAdapter):
    def __init__(self, sandbox_url: str, max_retries: Any) -> None:
        super().__init__(max_retries=max_retries)
        target = urlsplit(sandbox_url)
        self._scheme, self._netloc = target.scheme, target.netloc

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, *args, **kwargs)


def send_content_host_to(session: Session, sandbox_url: str) -> None:
    """Requests for ``content.airtable.com`` (http or https) made with ``session`` go to ``sandbox_url``."""
    retries = session.get_adapter(sandbox_url).max_retries
    for scheme in ("https", "http"):
        session.mount(f"{scheme}://{CONTENT_HOST}/", _ToSandbox(sandbox_url, retries))
