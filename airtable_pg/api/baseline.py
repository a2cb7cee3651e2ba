"""The latency baseline of a cutover: each entity's reads answered by Airtable and by the mirror, p50/p95 of both.

Per entity the reads an app makes most: its first page of 100 records, one record by id, and, where the table links
to another, one record's linked records (the seed's ``api/programs/[id]/methods``: the record, then the linked
table's records by ``RECORD_ID()``, two requests, as an app on Airtable makes it). Each
endpoint is read ``reads`` times from each backend, open loop at ``rate`` reads a second (below the base's 5
requests/s, through the shared bucket, so the sync and the app's other clients keep their share). Latency is timed
from the moment a read was *scheduled*, not from when it was sent, and reads are started on schedule whether or not
the earlier ones have answered: a backend that stalls makes every read sent meanwhile late, and that is counted (no
coordinated omission).

The Airtable side is pyairtable through airtable_pg's client (the shared per-base bucket); the Postgres side is the
read path of ``airtable-pg api`` (its listing and record shaping on its own read pool), in process.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pyairtable import Api
from pyairtable.formulas import EQ, OR, RECORD_ID, field_name

from airtable_pg.api.listing import Listing
from airtable_pg.api.params import ListOptions
from airtable_pg.api.records import shape
from airtable_pg.api.tables import Catalog, ServedTable
from airtable_pg.postgres.api_reads import MirrorReader, records_by_id
from airtable_pg.routing.flags import entity_key
from airtable_pg.spec import BaseSpec, FieldSpec, SyncSpec, TableSpec

MAX_CONCURRENT_READS = 8  # reads in flight at once per endpoint and backend
LIST_FIRST_PAGE, GET_ONE, LINKED = "list first page", "get one record", "{link} of one record"


@dataclass(frozen=True)
class Figures:
    reads: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class EndpointBaseline:
    entity: str
    endpoint: str
    airtable: Figures
    postgres: Figures

    @property
    def p95_delta_ms(self) -> float:
        return self.postgres.p95_ms - self.airtable.p95_ms


def figures(seconds: list[float]) -> Figures:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return Figures(len(ordered), round(statistics.median(ordered) * 1000, 2), round(p95 * 1000, 2))


def open_loop(read: Callable[[], Any], reads: int, rate: float, stop: threading.Event) -> list[float]:
    """``reads`` calls started ``1/rate`` s apart whether or not the earlier ones have answered (as an app's users
    would send them), each one's latency timed from its scheduled start.

    A read slower than ``1/rate`` (a linked read is two Airtable requests, ~700 ms) overlaps the next instead of
    pushing every later read back, which one sequential client would do and report as the backend's lateness.
    Reads still wait for each other beyond ``MAX_CONCURRENT_READS``, and that wait is counted.
    """
    started, latencies, lock = time.monotonic(), [], threading.Lock()

    def timed(scheduled: float) -> None:
        read()
        with lock:
            latencies.append(time.monotonic() - scheduled)

    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_READS, thread_name_prefix="baseline-read") as pool:
        futures = []
        for index in range(reads):
            scheduled = started + index / rate
            wait = scheduled - time.monotonic()
            if wait > 0 and stop.wait(wait):
                break
            futures.append(pool.submit(timed, scheduled))
        for future in futures:
            future.result()  # a failed read fails the measurement, as before
    return latencies


def measure(
    spec: SyncSpec,
    api: Api,
    database_url: str,
    *,
    entities: list[str] | None = None,
    reads: int = 20,
    rate: float = 2.0,
    stop: threading.Event | None = None,
    on_result: Callable[[EndpointBaseline], None] = lambda result: None,
) -> list[EndpointBaseline]:
    stop = stop or threading.Event()
    catalog, mirror = Catalog(spec), MirrorReader(database_url)
    wanted = [spec.find_table(name) for name in entities] if entities else list(spec.tables())
    results = []
    for base, table in wanted:
        served = catalog.table(base.id, table.id)
        record_id = _some_record(mirror, served)
        if record_id is None:
            continue  # an empty mirror: nothing to read
        airtable_table = api.table(base.id, table.id)
        pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
            LIST_FIRST_PAGE: (
                lambda t=airtable_table: next(t.iterate(page_size=100)),
                lambda s=served: Listing(s, ListOptions(), mirror).page(),
            ),
            GET_ONE: (
                lambda t=airtable_table, r=record_id: t.get(r),
                lambda s=served, r=record_id: _get_one(mirror, s, r),
            ),
        }
        link = _first_link(base, table)
        linking = _some_record(mirror, served, having=link) if link else None
        if link and linking:
            linked_table = catalog.table(base.id, link.linked_table or "")
            from_airtable_linked = api.table(base.id, linked_table.table.id)

            def airtable_linked(t=airtable_table, lt=from_airtable_linked, r=linking, f=link) -> list[Any]:
                ids = t.get(r)["fields"].get(f.name, [])
                return lt.all(formula=_by_ids(ids)) if ids else []

            def postgres_linked(s=served, ls=linked_table, r=linking, f=link) -> list[Any]:
                ids = _get_one(mirror, s, r)["fields"].get(f.name, [])
                return Listing(ls, ListOptions(formula=_by_ids(ids)), mirror).page().records if ids else []

            pairs[LINKED.format(link=link.name)] = (airtable_linked, postgres_linked)
        for endpoint, (from_airtable, from_postgres) in pairs.items():
            result = EndpointBaseline(
                entity_key(base, table),
                endpoint,
                figures(open_loop(from_airtable, reads, rate, stop)),
                figures(open_loop(from_postgres, reads, rate, stop)),
            )
            on_result(result)
            results.append(result)
    return results


def _first_link(base: BaseSpec, table: TableSpec) -> FieldSpec | None:
    """The table's first link to a table the mirror also holds."""
    mirrored = {t.id for t in base.tables.values()}
    return next((f for f in table.fields.values() if f.type == "multipleRecordLinks" and f.linked_table in mirrored),
                None)  # fmt: skip


def _by_ids(record_ids: list[str]) -> str:
    return str(OR(*(EQ(RECORD_ID(), record_id) for record_id in record_ids)))


def _some_record(mirror: MirrorReader, served: ServedTable, having: FieldSpec | None = None) -> str | None:
    """The first record (that links to something through ``having``, when given)."""
    formula = field_name(having.name) if having else None
    page = Listing(served, ListOptions(page_size=1, max_records=1, formula=formula), mirror).page()
    return page.records[0]["id"] if page.records else None


def _get_one(mirror: MirrorReader, served: ServedTable, record_id: str) -> dict[str, Any]:
    found = mirror(lambda cur: records_by_id(cur, served.base, served.table, [record_id]))
    return shape(served, found[record_id], by_field_id=False, field_ids=None)


def markdown_table(results: list[EndpointBaseline]) -> str:
    """The baseline as the README and docs/cutover.md show it."""
    rows = [
        "| entity | endpoint | Airtable p50 / p95 ms | Postgres p50 / p95 ms | p95 Δ ms |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.entity} | {r.endpoint} | {r.airtable.p50_ms:.0f} / {r.airtable.p95_ms:.0f} | "
            f"{r.postgres.p50_ms:.1f} / {r.postgres.p95_ms:.1f} | {r.p95_delta_ms:.0f} |"
        )
    return "\n".join(rows)
