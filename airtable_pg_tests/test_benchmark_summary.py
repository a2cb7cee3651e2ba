"""The full-sync benchmark's report: the end-to-end row beside the engine's, and no result with a 429."""

from __future__ import annotations

from benchmarks.full_sync import render, summarize


def sandbox(requests: int, throttled: int = 0) -> dict:
    return {"requests": requests, "served": requests, "rate_limited": throttled, "peak_per_second": 5}


def runs(*, e2e_throttled: int = 0) -> dict:
    return {
        "full": {
            "records": 100_000,
            "latency_ms": 300,
            "engine": {"records": 100_000, "seconds": 212.0, "peak_rss_mib": 110.0, "sandbox": sandbox(1016)},
            "naive": {"records": 100_000, "seconds": 313.0, "peak_rss_mib": 428.0, "sandbox": sandbox(1000)},
        },
        "tenth": {"engine": {"records": 10_000, "seconds": 23.0, "peak_rss_mib": 94.0, "sandbox": sandbox(108)}},
        "end_to_end": {
            "records": 20_000,
            "latency_ms": 300,
            "seconds": 50.0,
            "mirrored_rows": 20_000,
            "sandbox": sandbox(215, e2e_throttled),
        },
    }


def test_the_end_to_end_run_is_a_row_of_its_own_as_a_share_of_the_ceiling() -> None:
    summary = summarize(runs())
    e2e = summary["rows"][-1]
    assert e2e["contender"].startswith("`airtable-pg sync --full`")
    assert (e2e["records"], e2e["share_of_ceiling"], e2e["requests"], e2e["rate_limited_429"]) == (20_000, 0.8, 215, 0)
    assert summary["no_429s"] and summary["engine_vs_naive_speedup"] == 1.48
    table = render(summary)
    assert "| `airtable-pg sync --full`, end to end | 20000 | 50.0 | 400.0 | 80.0% | – | 215 | 0 | 5 |" in table


def test_a_run_that_met_a_429_is_not_a_result() -> None:
    summary = summarize(runs(e2e_throttled=1))
    assert not summary["no_429s"]
    assert "SOME (invalid run)" in render(summary)


def test_the_end_to_end_run_alone_is_reported_too() -> None:
    only = {"end_to_end": runs()["end_to_end"]}
    summary = summarize(only)
    assert [r["records"] for r in summary["rows"]] == [20_000] and summary["no_429s"]
