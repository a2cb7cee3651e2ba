"""How fast the sandbox generates its demo base: records per second for ``--records`` (default a million).

A timing, so it lives here rather than in the test suite (where a loaded machine would fail it); that a million
records are generated, fit in 2 GiB and page fast is asserted in ``airtable_pg_tests/sandbox/test_sandbox_memory.py``.

    python -m benchmarks.sandbox_scale            # results in benchmarks/results/sandbox_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from airtable_sandbox import demo

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    started = time.perf_counter()
    count = sum(1 for _ in demo.demo_records(args.records))
    elapsed = time.perf_counter() - started
    result = {
        "records": count,
        "seconds": round(elapsed, 1),
        "records_per_second": round(count / elapsed),
        "loadavg": os.getloadavg()[:3],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
