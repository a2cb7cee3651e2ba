"""Pytest fixtures for tests that talk to the Airtable sandbox over real HTTP.

Load it in your conftest.py with ``pytest_plugins = ["airtable_sandbox.pytest_plugin"]`` (this repository's suite does),
so tests just name them:

* ``sandbox_factory(**options)`` → a started :class:`~airtable_sandbox.server.Sandbox` on
  ``127.0.0.1:0``, stopped at the end of the test. ``demo_records`` (default 200; ``None`` for an empty
  sandbox) loads the coaching demo base (and the hostile-names base); any other keyword goes to
  ``Sandbox(...)``. The rate limit is **off** unless you pass ``rate_limit_per_second`` — most tests
  are about behaviour, not throttling; pass ``rate_limit_per_second=5`` for Airtable's real limit.
* ``sandbox`` → ``sandbox_factory()`` with the defaults.
* ``airtable_api`` → a pyairtable ``Api`` pointed at ``sandbox`` (``airtable_api_for(sandbox)`` for others), its
  attachment uploads (which pyairtable sends to ``content.airtable.com``) sent to the sandbox too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyairtable import Api

from airtable_sandbox.content_host import send_content_host_to
from airtable_sandbox.server import Sandbox

SANDBOX_TOKEN = "patSandboxTests.0123456789abcdef"

SandboxFactory = Callable[..., Sandbox]


def airtable_api_for(sandbox: Sandbox, **options: Any) -> Api:
    """A pyairtable client for ``sandbox`` (``options`` go to ``Api``, e.g. ``retry_strategy=None``)."""
    api = Api(sandbox.token, endpoint_url=sandbox.url, **options)
    send_content_host_to(api.session, sandbox.url)
    return api


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    started: list[Sandbox] = []

    def make(*, demo_records: int | None = 200, seed: int = 42, **options: Any) -> Sandbox:
        options.setdefault("rate_limit_per_second", None)
        sandbox = Sandbox(options.pop("token", SANDBOX_TOKEN), **options)
        started.append(sandbox)
        if demo_records is not None:
            sandbox.load_demo(demo_records, seed=seed)
        return sandbox.start()

    yield make
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory()


@pytest.fixture
def airtable_api(sandbox: Sandbox) -> Api:
    return airtable_api_for(sandbox)
