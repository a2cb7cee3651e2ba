"""The benchmarks' CPU burners stop by themselves: an interrupted benchmark leaves no busy loop behind."""

from __future__ import annotations

import time

from benchmarks import burners


def test_burners_stop_by_themselves_at_their_deadline() -> None:
    started = time.monotonic()
    burn = burners.start(2, seconds=1.0, target_load=0.0, ramp_seconds=0.0)
    assert all(process.poll() is None for process in burn.processes)  # busy now
    for process in burn.processes:  # nobody stops them: they must end on their own
        assert process.wait(timeout=30) == 0
    assert time.monotonic() - started >= 1.0


def test_no_burners_when_none_are_asked_for() -> None:
    with burners.burning(0) as report:
        assert report == {"count": 0}
