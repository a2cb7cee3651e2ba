"""The API's fixtures: a sandbox synced into a mirror, and ``airtable-pg api`` serving that mirror over real HTTP.

Module-scoped: one sync serves every comparison of a module (the comparisons only read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from pyairtable import Api

from airtable_pg.postgres import api_tokens
from airtable_pg.postgres.migrate import DEMO_VERSIONS, alembic_config, upgrade
from airtable_pg.postgres.transaction import transaction
from airtable_pg.receiver.server import ReceiverServer
from airtable_pg.routing.flags import BackendFlags
from airtable_pg.spec import SyncSpec, load_spec
from airtable_pg_tests.api.airtable_js import install_airtable_js
from airtable_pg_tests.sync_helpers import make_sync_engine, sandbox_runtime
from airtable_sandbox.demo import DEMO_BASE_ID, HOSTILE_BASE_ID
from airtable_sandbox.pytest_plugin import SANDBOX_TOKEN, airtable_api_for
from airtable_sandbox.server import Sandbox


@dataclass
class Served:
    """The same data twice: in the sandbox (Airtable's answers) and behind the mirror's API."""

    sandbox: Sandbox
    database_url: str
    spec: SyncSpec
    api_url: str
    token: str

    def mirror(self, **options: object) -> Api:
        return Api(self.token, endpoint_url=self.api_url, **options)

    def airtable(self, **options: object) -> Api:
        return airtable_api_for(self.sandbox, **options)

    def issue(self, name: str, bases: list[str], *, can_write: bool = False) -> str:
        with transaction(sandbox_runtime(self.sandbox, self.database_url, self.spec).db) as cur:
            return api_tokens.replace_token(cur, name, bases, can_write=can_write)[1]


def serve_from_postgres(db: sa.Engine, spec: SyncSpec) -> None:
    """Every entity on postgres_primary: these tests are about the mirror's answers (an entity left on its default,
    airtable, is relayed to Airtable; tests/api/test_api_routing.py covers that)."""
    flags = BackendFlags(db, spec, environ={})
    for base, table in spec.tables():
        flags.set(f"{base.key}.{table.key}", "postgres_primary", reason="API tests", force=True)


def serve(sandbox: Sandbox, url: str, spec: SyncSpec, bases: list[str]) -> Iterator[Served]:
    with make_sync_engine(sandbox, url, spec) as engine:
        engine.sync_tables("full")  # raises if a table failed
    runtime = sandbox_runtime(sandbox, url, spec)
    with transaction(runtime.db) as cur:
        _, token = api_tokens.create_token(cur, "tests", bases, can_write=False)
    serve_from_postgres(runtime.db, spec)
    with ReceiverServer(runtime.api_app()) as server:
        yield Served(sandbox, url, spec, server.url, token)


@pytest.fixture(scope="module")
def demo_served(new_database: Callable[[str], str]) -> Iterator[Served]:
    url = new_database("api")
    upgrade(alembic_config(url, versions=DEMO_VERSIONS))
    sandbox = Sandbox(SANDBOX_TOKEN, rate_limit_per_second=None, token_rate_limit_per_second=None)
    sandbox.load_demo(200, seed=42)
    sandbox.start()
    try:
        yield from serve(sandbox, url, load_spec(), [DEMO_BASE_ID])
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def hostile_served(
    migrated_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The hostile-names base (quotes, semicolons, SQL, unicode in table and field names), with its mirror in a
    schema and table named to break SQL."""
    from airtable_pg_tests.sync.test_hostile import hostile_spec

    sandbox = Sandbox(SANDBOX_TOKEN, rate_limit_per_second=None, token_rate_limit_per_second=None)
    sandbox.load_demo(200, seed=42)
    sandbox.start()
    try:
        spec = hostile_spec(sandbox, tmp_path_factory.mktemp("hostile") / "hostile.yaml")
        yield from serve(sandbox, migrated_database(spec.path), spec, [HOSTILE_BASE_ID])
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """airtable.js, installed once for every test that runs it."""
    return install_airtable_js(tmp_path_factory.mktemp("airtable_js"))
