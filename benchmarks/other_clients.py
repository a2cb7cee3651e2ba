"""The team's other Airtable clients beside the sync: a 429 they cause is survived, and room can be left for them.

Run: ``python -m benchmarks.other_clients`` (``--records 5000 --latency-ms 300``; about 2 minutes).

Against one sandbox with Airtable's limits (5 requests/s per base, 30 s penalty after a 429) and ``--latency-ms``
per request, a full sync of the ``--records`` demo base runs three times in a child process, on a fresh database each:

1. **alone**: the baseline;
2. **a burst from another client**: 5 s in, a script bursts 12 requests through pyairtable (its default retries,
   as a person's script has them), which locks the base out for 30 s. The sync meets the 429, waits the penalty
   and goes on: reported are its 429s, the seconds it lost against the baseline, and whether every record arrived;
3. **room left**: the spec gives the base ``requests_per_second: 4``; another script sends one request every
   1.25 s with retries off (any 429 would fail it) while the sync runs. Reported: 429s (0 expected) and the sync's
   pace.

Results: ``benchmarks/results/other_clients.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
import yaml

from benchmarks.full_sync import DEMO_BASE_ID, TOKEN, fresh_database, mirror_live_rows, reset_stats, start_sandbox

REPO = Path(__file__).resolve().parents[1]
WORK = Path(".airtable_pg/bench-other-clients").resolve()
BURST_AFTER_SECONDS = 5.0
BURST_REQUESTS = 12
STEADY_INTERVAL_SECONDS = 1.25

SYNC = """
import json, os, sys, time
from airtable_pg.airtable.client import AirtableConfig
from airtable_pg.spec import load_spec
from airtable_pg.sync.engine import SyncEngine
spec = load_spec(os.environ.get("AIRTABLE_PG_SPEC"))
engine = SyncEngine(spec, os.environ["DATABASE_URL"], AirtableConfig(api_key=sys.argv[1], api_url=sys.argv[2]),
                    workers=8)
started = time.perf_counter()
results = engine.sync_tables("full")
engine.close()
print(json.dumps({"seconds": time.perf_counter() - started, "records": sum(r.rows_seen for r in results),
                  "requests": sum(r.requests for r in results),
                  "throttled_429": sum(r.throttled_429 for r in results)}))
"""


def sync(sandbox_url: str, database_url: str, spec: Path | None = None) -> subprocess.Popen[str]:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    if spec is not None:
        env["AIRTABLE_PG_SPEC"] = str(spec)
    return subprocess.Popen([sys.executable, "-c", SYNC, TOKEN, sandbox_url], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=900)
    if process.returncode != 0:
        raise RuntimeError(f"sync failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def burst(sandbox_url: str) -> dict:
    """A person's script: pyairtable with its default retries (0–1.6 s, useless against a 30 s penalty)."""
    from pyairtable import Api

    api = Api(TOKEN, endpoint_url=sandbox_url)
    outcomes: list[str] = []

    def one() -> None:
        try:
            api.table(DEMO_BASE_ID, "users").first()
            outcomes.append("ok")
        except requests.RequestException as error:  # the script's own failure is what we report
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=one) for _ in range(BURST_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": BURST_REQUESTS, "outcomes": {o: outcomes.count(o) for o in set(outcomes)}}


def steady(sandbox_url: str, stop: threading.Event, report: dict) -> None:
    """Another client using the room the spec leaves: one request per 1.25 s, no retries (a 429 would fail)."""
    from pyairtable import Api

    api = Api(TOKEN, endpoint_url=sandbox_url, retry_strategy=None)
    sent = refused = 0
    while not stop.wait(STEADY_INTERVAL_SECONDS):
        try:
            api.table(DEMO_BASE_ID, "users").first()
        except requests.HTTPError:  # a 429: counted, the point of the measurement
            refused += 1
        sent += 1
    report |= {"requests": sent, "refused": refused}


def spec_with_room(rate: float) -> Path:
    from airtable_pg.spec import load_spec, spec_to_dict

    raw = spec_to_dict(load_spec())
    for body in raw["bases"].values():
        body["requests_per_second"] = rate
    path = WORK / "spec_room.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def sandbox_429s(url: str) -> int:
    stats = requests.get(f"{url}/_sandbox/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    return int(stats["bases"].get(DEMO_BASE_ID, {}).get("rate_limited", 0))


def run(args: argparse.Namespace, server_url: str) -> dict:
    import os

    WORK.mkdir(parents=True, exist_ok=True)
    sandbox, url = start_sandbox(args.records, args.latency_ms)
    stamp = int(time.time())
    try:
        reset_stats(url)
        database = fresh_database(server_url, f"bench_others_alone_{stamp}")
        alone = finish(sync(url, database))
        alone["load_1m"] = os.getloadavg()[0]

        reset_stats(url)
        database = fresh_database(server_url, f"bench_others_burst_{stamp}")
        process = sync(url, database)
        time.sleep(BURST_AFTER_SECONDS)
        other = burst(url)
        burst_run = finish(process)
        burst_run |= {"other_client": other, "mirrored_rows": mirror_live_rows(database),
                      "seconds_lost": burst_run["seconds"] - alone["seconds"], "sandbox_429s": sandbox_429s(url),
                      "load_1m": os.getloadavg()[0]}  # fmt: skip

        time.sleep(args.penalty_seconds)  # the burst's lock-out must be over before the next run
        reset_stats(url)
        database = fresh_database(server_url, f"bench_others_room_{stamp}")
        stop, report = threading.Event(), {}
        client = threading.Thread(target=steady, args=(url, stop, report))
        process = sync(url, database, spec_with_room(args.room_rate))
        client.start()
        room = finish(process)
        stop.set()
        client.join()
        room |= {"other_client": report, "sandbox_429s": sandbox_429s(url), "requests_per_second": args.room_rate,
                 "load_1m": os.getloadavg()[0]}  # fmt: skip
        return {"records": args.records, "latency_ms": args.latency_ms, "alone": alone, "burst": burst_run,
                "room": room}  # fmt: skip
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


def render(result: dict) -> str:
    alone, burst_run, room = result["alone"], result["burst"], result["room"]
    rate = result["records"] / alone["seconds"]
    return "\n".join(
        [
            "| run | seconds | records/s | the sync's 429s | other client |",
            "|---|---|---|---|---|",
            f"| alone | {alone['seconds']:.1f} | {rate:.0f} | {alone['throttled_429']} | – |",
            f"| another client bursts {BURST_REQUESTS} requests 5 s in | {burst_run['seconds']:.1f} "
            f"(+{burst_run['seconds_lost']:.1f}) | {result['records'] / burst_run['seconds']:.0f} | "
            f"{burst_run['throttled_429']} (all {burst_run['mirrored_rows']:,} records arrived) | "
            f"{burst_run['other_client']['outcomes']} |",
            f"| spec `requests_per_second: {room['requests_per_second']:g}`, another client at 0.8 requests/s | "
            f"{room['seconds']:.1f} | {result['records'] / room['seconds']:.0f} | {room['throttled_429']} | "
            f"{room['other_client'].get('requests', 0)} requests, {room['other_client'].get('refused', 0)} refused |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--penalty-seconds", type=float, default=30.0)
    parser.add_argument("--room-rate", type=float, default=4.0, help="the spec's requests_per_second in run 3")
    parser.add_argument("--out", default="benchmarks/results/other_clients.json")
    args = parser.parse_args(argv)
    from airtable_pg.postgres.embedded import start_embedded

    server_url = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    result = run(args, server_url)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(render(result))
    complete = result["burst"]["mirrored_rows"] >= args.records  # a failed sync raised already
    return 0 if complete and result["room"]["sandbox_429s"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
