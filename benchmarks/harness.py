"""What the live-path benchmarks share around their run: the embedded server, the burners, the JSON, the verdict."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks import burners


def run_and_save(
    args: argparse.Namespace, run: Callable[[argparse.Namespace, str], dict], render: Callable[[dict], str]
) -> dict:
    """``run(args, server_url)`` on the benchmarks' embedded server (with ``--burn`` burners), saved to ``--out``."""
    from airtable_pg.postgres.embedded import start_embedded

    server_url = start_embedded(Path(".airtable_pg/bench-pgdata").resolve())
    with burners.burning(args.burn) as burn:
        result = run(args, server_url)
    result["burners"] = burn
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(render(result))
    return result


def verdict(problems: list[str]) -> int:
    """Exit status 1, saying why, when the run is not a result."""
    for problem in problems:
        print(f"\nNOT A VALID RESULT: {problem}", file=sys.stderr)
    return 1 if problems else 0
