"""The API benchmark: pyairtable against `airtable-pg api` (the mirror) and against the sandbox at Airtable's pace.

Run: ``python -m benchmarks.api --records 100000`` (results in ``benchmarks/results/api.json``, a table on stdout).

1. A sandbox without limits fills a fresh mirror through the real sync engine (the demo base, ``--records``).
2. ``airtable-pg api --workers N`` serves that mirror as a process of its own; a sandbox with Airtable's limits
   (5 requests/s per base, ``--latency-ms`` per request) holds the same demo data.
3. The same pyairtable calls go to both, in the same run: list pages of 100 (unfiltered, and with two typical
   filters), and single gets. Per page: p50/p95 latency; pages/s for one client, and for ``--clients`` clients at
   once against the API, each a process of its own, with the server's CPU time per page (the API's processes and
   Postgres'): on this machine clients and server share the cores, so that figure says what the server alone
   would serve. The sandbox is paced at 5 requests/s (faster would only earn 429s) and sampled for
   ``--sandbox-pages`` pages per workload: its figures are Airtable's ceiling, not a load test of the sandbox.
4. Memory: the API's processes' resident memory (all workers) before, and at its peak while one client pages
   through the whole largest table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import requests
from pyairtable import Api

from benchmarks.full_sync import DEMO_BASE_ID, TOKEN, free_port, fresh_database, sandbox_runtime, start_sandbox

AIRTABLE_PAGES_PER_SECOND = 5.0  # one base's ceiling
PGDATA = Path(".airtable_pg/bench-pgdata").resolve()
FILTERS = {"unfiltered": None, "{active}": "{active}", "{role} = 'coach'": "{role} = 'coach'"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed_pages(pages: Iterator[list], limit: int | None, pace: float | None = None) -> list[float]:
    """Seconds each page took (from asking to having it parsed), for up to ``limit`` pages."""
    took: list[float] = []
    while limit is None or len(took) < limit:
        started = time.perf_counter()
        try:
            next(pages)
        except StopIteration:
            break
        took.append(time.perf_counter() - started)
        if pace is not None:  # keep under the per-base limit: requests start at most `pace` per second
            time.sleep(max(0.0, 1 / pace - (time.perf_counter() - started)))
    return took


def figures(took: list[float], wall: float | None = None) -> dict[str, float]:
    wall = wall if wall is not None else sum(took)
    return {
        "pages": len(took),
        "p50_ms": round(percentile(took, 0.50) * 1000, 2),
        "p95_ms": round(percentile(took, 0.95) * 1000, 2),
        "pages_per_s": round(len(took) / wall, 1) if wall else 0.0,
    }


def tree_rss_mib(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def start_api(database_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("AIRTABLE_API_KEY", None)  # reads only: the API needs no Airtable token
    process = subprocess.Popen(
        [sys.executable, "-m", "airtable_pg", "api", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the API did not start")


def largest_table(api: Api) -> str:
    from airtable_pg.spec import load_spec

    sizes = {t.airtable_name: t for _, t in load_spec().tables()}
    return max(sizes, key=lambda name: len(api.table(DEMO_BASE_ID, name).all(fields=[], max_records=100_000)))


def client_pages(api_url: str, token: str, table: str, pages_each: int) -> list[float]:
    """One pyairtable client paging through ``table`` (run in a process of its own)."""
    return timed_pages(Api(token, endpoint_url=api_url).table(DEMO_BASE_ID, table).iterate(page_size=100), pages_each)


_OFFSET_AT_END = re.compile(rb'"offset":\s*"([^"]+)"\s*}\s*$')


def raw_client_pages(api_url: str, token: str, table: str, pages_each: int) -> list[float]:
    """A client that fetches pages over keep-alive and reads only the offset (no JSON parse): the server's side."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    took: list[float] = []
    offset = None
    for _ in range(pages_each):
        started = time.perf_counter()
        params = {"pageSize": 100, **({"offset": offset} if offset else {})}
        body = session.get(f"{api_url}/v0/{DEMO_BASE_ID}/{table}", params=params, timeout=60).content
        took.append(time.perf_counter() - started)
        found = _OFFSET_AT_END.search(body[-300:])
        offset = found.group(1).decode() if found else None
    return took


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def server_processes(api_pid: int, pgdata: Path) -> dict[str, list[psutil.Process]]:
    """The API's processes (all workers) and the embedded Postgres' (postmaster and backends)."""
    api = psutil.Process(api_pid)
    postmaster = next(
        p for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or ())
    )  # fmt: skip
    return {"api": [api, *api.children(recursive=True)], "postgres": [postmaster, *postmaster.children(recursive=True)]}


Servers = Callable[[], dict[str, list[psutil.Process]]]


def concurrent(client: Callable[..., list[float]], args: tuple, clients: int, servers: Servers) -> dict[str, float]:
    """``clients`` processes running ``client(*args)`` at once (threads would share one interpreter lock: the
    clients, not the server, would be measured): pages/s over the wall time, per-page latency, and the server's CPU
    milliseconds per page (the API's and Postgres' processes), which says what the server would serve on cores of
    its own."""
    context = multiprocessing.get_context("fork")
    with context.Pool(clients) as pool:
        pool.map(abs, range(clients))  # the processes are up before the clock starts
        watched = servers()
        cpu_before = {name: cpu_seconds(processes) for name, processes in watched.items()}
        started = time.perf_counter()
        took_each = pool.starmap(client, [args] * clients)
        wall = time.perf_counter() - started
        cpu = {name: cpu_seconds(processes) - cpu_before[name] for name, processes in watched.items()}
    took = [t for mine in took_each for t in mine]
    per_page = {f"{name}_cpu_ms_per_page": round(seconds * 1000 / len(took), 2) for name, seconds in cpu.items()}
    return {**figures(took, wall), "clients": clients, **per_page}


def timed_gets(api: Api, table: str, record_ids: list[str], pace: float | None = None) -> list[float]:
    def one(record_id: str) -> Iterator[list]:
        yield [api.table(DEMO_BASE_ID, table).get(record_id)]

    return [timed_pages(one(record_id), 1, pace)[0] for record_id in record_ids]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from airtable_pg.postgres import api_tokens
    from airtable_pg.postgres.embedded import start_embedded
    from airtable_pg.postgres.transaction import transaction

    server_url = start_embedded(PGDATA)
    fill_seconds = None
    if args.database:  # a mirror an earlier run filled with the same --records: measure again without refilling
        from airtable_pg.postgres.database import with_database

        database = with_database(server_url, args.database)
        runtime = sandbox_runtime(database, "http://127.0.0.1:9")  # reads only: Airtable is never asked
    else:
        database = fresh_database(server_url, f"bench_api_{os.getpid()}")
        filler, filler_url = start_sandbox(args.records, 0, "--rate-limit", "0", "--token-rate-limit", "0")
        try:
            started = time.perf_counter()
            runtime = sandbox_runtime(database, filler_url)
            with runtime.sync_engine(workers=8) as engine:
                engine.sync_tables("full")
            fill_seconds = round(time.perf_counter() - started, 1)
        finally:
            filler.terminate()
            filler.wait(30)
    with transaction(runtime.db) as cur:
        token = api_tokens.create_token(cur, f"bench-{os.getpid()}", [DEMO_BASE_ID], can_write=False)[1]
    from airtable_pg.routing.flags import BackendFlags

    flags = BackendFlags(runtime.db, runtime.spec, environ={})
    for base, table in runtime.spec.tables():  # the subject is the mirror's answers (the default would relay them)
        flags.set(f"{base.key}.{table.key}", "postgres_primary", reason="benchmarks.api", force=True)
    api_process, api_url = start_api(database, args.workers)
    sandbox, sandbox_url = start_sandbox(args.records, args.latency_ms)
    try:
        mirror = Api(token, endpoint_url=api_url)
        airtable = Api(TOKEN, endpoint_url=sandbox_url)
        table = largest_table(mirror)
        rows = len(mirror.table(DEMO_BASE_ID, table).all(fields=[]))
        result: dict[str, Any] = {
            "records": args.records, "table": table, "table_rows": rows, "latency_ms": args.latency_ms,
            "workers": args.workers, "fill_seconds": fill_seconds, "database": database.rsplit("/", 1)[-1],
            "load_average_before": os.getloadavg(), "workloads": {},
        }  # fmt: skip
        rss_before = tree_rss_mib(api_process.pid)
        peak = [rss_before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], tree_rss_mib(api_process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for name, formula in FILTERS.items():
            options = {"page_size": 100, **({"formula": formula} if formula else {})}
            mirror_took = timed_pages(
                mirror.table(DEMO_BASE_ID, table if formula is None else "users").iterate(**options), None
            )
            sandbox_took = timed_pages(
                airtable.table(DEMO_BASE_ID, table if formula is None else "users").iterate(**options),
                args.sandbox_pages,
                AIRTABLE_PAGES_PER_SECOND,
            )
            result["workloads"][f"list {name}"] = {"api": figures(mirror_took), "sandbox": figures(sandbox_took)}
        done.set()
        sampler.join()
        result["memory_mib"] = {"before": round(rss_before, 1), "peak_while_paging_all": round(peak[0], 1)}
        ids = [r["id"] for r in mirror.table(DEMO_BASE_ID, table).all(fields=[], max_records=5000)]
        sample_ids = random.Random(7).sample(ids, min(len(ids), args.gets))
        result["workloads"]["get one record"] = {
            "api": figures(timed_gets(mirror, table, sample_ids)),
            "sandbox": figures(
                timed_gets(airtable, table, sample_ids[: args.sandbox_pages], AIRTABLE_PAGES_PER_SECOND)
            ),
        }
        def servers() -> dict[str, list[psutil.Process]]:
            return server_processes(api_process.pid, PGDATA)

        pages_args = (api_url, token, table, args.concurrent_pages)
        result["concurrent"] = concurrent(client_pages, pages_args, args.clients, servers)
        result["concurrent_raw"] = concurrent(raw_client_pages, pages_args, args.clients, servers)
        result["load_average_after"] = os.getloadavg()
        return result
    finally:
        sandbox.terminate()
        api_process.terminate()
        sandbox.wait(30)
        api_process.wait(30)


def render(result: dict[str, Any]) -> str:
    lines = [
        f"API benchmark: {result['records']} demo records; largest table {result['table']} ({result['table_rows']} "
        f"rows); `airtable-pg api --workers {result['workers']}` vs the sandbox at {result['latency_ms']} ms and 5 "
        "requests/s",
        "",
        "| workload | API p50 ms | API p95 ms | API pages/s (1 client) | sandbox p50 ms | sandbox p95 ms "
        "| sandbox pages/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, sides in result["workloads"].items():
        a, s = sides["api"], sides["sandbox"]
        lines.append(
            f"| {name} ({a['pages']} pages) | {a['p50_ms']} | {a['p95_ms']} | {a['pages_per_s']} | {s['p50_ms']} | "
            f"{s['p95_ms']} | {s['pages_per_s']} |"
        )
    lines.append("")
    clients = {"concurrent": "pyairtable clients", "concurrent_raw": "clients that only fetch (no JSON parse)"}
    for key, who in clients.items():
        c = result[key]
        server_ms = c["api_cpu_ms_per_page"] + c["postgres_cpu_ms_per_page"]
        lines.append(
            f"{c['clients']} {who} at once, each a process: {c['pages_per_s']} pages/s, p50 {c['p50_ms']} ms, "
            f"p95 {c['p95_ms']} ms ({c['pages']} pages); server CPU per page {server_ms:.2f} ms (API "
            f"{c['api_cpu_ms_per_page']}, Postgres {c['postgres_cpu_ms_per_page']}): "
            f"{1000 / server_ms:.0f} pages/s per core it has to itself"
        )
    lines += [
        f"API memory (all workers): {result['memory_mib']['before']} MiB before, "
        f"{result['memory_mib']['peak_while_paging_all']} MiB at peak while paging every record",
        f"load average (1, 5, 15 min) before: {result['load_average_before']}, after: {result['load_average_after']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="API processes (the machine's cores)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--concurrent-pages", type=int, default=100, help="pages each concurrent client reads")
    parser.add_argument("--sandbox-pages", type=int, default=15, help="pages sampled from the sandbox per workload")
    parser.add_argument("--gets", type=int, default=500)
    parser.add_argument("--database", help="measure the mirror an earlier run filled (its database name)")
    parser.add_argument("--out", default="benchmarks/results/api.json")
    args = parser.parse_args(argv)
    result = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
