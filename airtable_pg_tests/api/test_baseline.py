"""The latency baseline: both backends read open loop, timed from each read's scheduled start."""

from __future__ import annotations

import json
import threading
import time

import pytest

from airtable_pg import cli
from airtable_pg.api.baseline import figures, measure, open_loop
from airtable_pg.spec import load_spec
from airtable_pg_tests.cli.test_sync import environment
from airtable_pg_tests.sync_helpers import make_sync_engine, sandbox_runtime

SPEC = load_spec()


def test_a_stalled_backend_makes_every_read_sent_meanwhile_late_and_that_is_counted() -> None:
    """Coordinated omission: a client waiting for each answer before sending the next would report a 0.3 s stall
    once; here the reads go out on schedule, and each one sent during the stall waited for its end."""
    stalled_until = time.monotonic() + 0.3
    latencies = open_loop(lambda: time.sleep(max(0.0, stalled_until - time.monotonic())), 10, 20.0, threading.Event())
    assert len(latencies) == 10 and max(latencies) >= 0.29
    assert sum(1 for seconds in latencies if seconds >= 0.1) >= 4  # the reads due at 0, 50, 100, 150 ms waited
    assert figures([0.001 * n for n in range(1, 21)]).p95_ms == 19.0


def test_reads_slower_than_the_schedule_overlap_instead_of_piling_up() -> None:
    """A read of 0.2 s at 20 reads a second: one at a time, the tenth would start 1.5 s late."""
    latencies = open_loop(lambda: time.sleep(0.2), 10, 20.0, threading.Event())
    assert len(latencies) == 10 and max(latencies) < 1.0  # piled up, the tenth would wait 1.5 s


def test_the_mirror_answers_faster_than_an_airtable_that_takes_300_ms(
    sandbox_factory, database_url, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_factory(demo_records=60, latency_ms=300)  # the mirror's p95 stays below it at load 10
    with make_sync_engine(sandbox, database_url) as engine:
        engine.sync_tables("full", [("coaching", key) for key in ("users", "personal_goals", "programs", "methods")])
    runtime = sandbox_runtime(sandbox, database_url, SPEC)
    results = measure(SPEC, runtime.api(), database_url, entities=["users", "programs"], reads=4, rate=20.0)
    assert [(r.entity, r.endpoint) for r in results] == [
        ("coaching.users", "list first page"), ("coaching.users", "get one record"),
        ("coaching.users", "personal_goals of one record"),
        ("coaching.programs", "list first page"), ("coaching.programs", "get one record"),
        ("coaching.programs", "methods of one record"),  # the seed's api/programs/[id]/methods
    ]  # fmt: skip
    for result in results:
        assert result.airtable.reads == result.postgres.reads == 4
        assert result.postgres.p95_ms < result.airtable.p95_ms, result
        # a linked read is two requests to Airtable, each at least 300 ms
        assert result.airtable.p50_ms >= (600 if "of one record" in result.endpoint else 300), result

    for name, value in environment(sandbox, database_url).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["bench", "api", "--entity", "users", "--reads", "3", "--rate", "20", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["endpoint"] for line in lines] == ["list first page", "get one record", "personal_goals of one record"]
    assert all(line["p95_delta_ms"] < 0 for line in lines)
