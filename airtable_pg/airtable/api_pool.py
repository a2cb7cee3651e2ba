"""pyairtable clients for one piece of work that spans threads, and the one way the engine lists records."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from pyairtable import Api
from pyairtable.formulas import OR, RECORD_ID, to_formula_str

from airtable_pg.airtable.client import AirtableConfig, RequestStats, make_api
from airtable_pg.airtable.errors import airtable_errors
from airtable_pg.airtable.meta import fetch_tables
from airtable_pg.airtable.rate_limit import RateLimiter

PAGE_SIZE = 100  # Airtable's maximum


class ApiPool:
    """One pyairtable ``Api`` per thread (a ``requests.Session`` is not thread-safe), all sharing ``stats``."""

    def __init__(
        self,
        config: AirtableConfig,
        limiter: RateLimiter,
        stats: RequestStats,
        cancel: threading.Event,
        lane: str = "standard",
    ):
        self._config = config
        self._lane = lane
        self._limiter = limiter
        self.stats = stats
        self.cancel = cancel
        self._local = threading.local()
        self._lock = threading.Lock()
        self._created: list[Api] = []

    def api(self) -> Api:
        api = getattr(self._local, "api", None)
        if api is None:
            api = make_api(self._config, self._limiter, self.stats, cancel=self.cancel, lane=self._lane)
            self._local.api = api
            with self._lock:
                self._created.append(api)
        return api

    def iterate(self, base_id: str, table_id: str, **options: Any) -> Iterator[list[dict[str, Any]]]:
        """Pages of records keyed by field id; failures arrive as ``AirtableError``."""
        table = self.api().table(base_id, table_id)
        with airtable_errors():
            yield from table.iterate(page_size=PAGE_SIZE, use_field_ids=True, **options)

    def base_tables(self, base_id: str) -> list[dict[str, Any]]:
        """The base's tables and fields from the metadata API (one request); failures as ``AirtableError``."""
        return fetch_tables(self.api(), base_id)

    def close(self) -> None:
        with self._lock:
            apis, self._created = self._created, []
        for api in apis:
            api.session.close()


def read_records(api: Api, base_id: str, table_id: str, record_ids: list[str]) -> list[dict[str, Any]]:
    """These records as a full sync reads them (by field id); ids Airtable no longer has are simply absent."""
    formula = to_formula_str(OR(*(RECORD_ID().eq(record_id) for record_id in record_ids)))
    with airtable_errors():
        return api.table(base_id, table_id).all(formula=formula, use_field_ids=True, page_size=PAGE_SIZE)
