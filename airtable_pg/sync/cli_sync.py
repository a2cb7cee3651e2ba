"""``airtable-pg sync --full | --incremental [--table T …] [--workers N]``: sync now, from a terminal.

A progress bar per table while it runs, then a summary table. Exit code 0 when every table synced,
1 when one failed (with a one-line reason per failed table), 2 for a usage or configuration error.

Configuration comes from the environment:

=============================  ==========================================================================
``AIRTABLE_API_KEY``           personal access token (required; never printed)
``AIRTABLE_API_URL``           API root (default ``https://api.airtable.com``; the sandbox's URL in dev)
``AIRTABLE_PG_SPEC``           the sync spec (default: the packaged demo spec)
``DATABASE_URL``               the database (default: the embedded server, started on demand)
``AIRTABLE_PG_RATE_LIMIT``     requests per second per base (default 5)
``AIRTABLE_PG_PENALTY_SECONDS`` how long a 429 blocks a base (default 30)
=============================  ==========================================================================
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from airtable_pg.airtable.client import DEFAULT_API_URL, AirtableConfig
from airtable_pg.config import ConfigError, rate_limit_settings
from airtable_pg.spec import SpecError, SyncSpec, load_spec
from airtable_pg.sync.engine import SyncEngine, SyncFailed, SyncResult
from airtable_pg.sync.run import ProgressEvent, describe_error

PROG = "airtable-pg sync"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="Sync Airtable tables into Postgres now.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="every record; tombstone deleted ones"
    )
    mode.add_argument(
        "--incremental",
        dest="mode",
        action="store_const",
        const="incremental",
        help="records modified since each table's watermark (a table without one gets a full sync)",
    )
    parser.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="T",
        help="base.table, table key, mirror name or Airtable table id/name; repeatable (default: every table)",
    )
    parser.add_argument("--workers", type=int, default=8, help="requests in flight (default 8)")
    args = parser.parse_args(list(argv))
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def airtable_config(env: Mapping[str, str]) -> AirtableConfig:
    api_key = env.get("AIRTABLE_API_KEY", "").strip()
    if not api_key:
        raise ConfigError("AIRTABLE_API_KEY is not set (a personal access token with data.records:read)")
    rates = rate_limit_settings(env)
    return AirtableConfig(
        api_key=api_key,
        api_url=env.get("AIRTABLE_API_URL") or DEFAULT_API_URL,
        requests_per_second=rates.requests_per_second,
        penalty_seconds=rates.penalty_seconds,
        rate_margin_seconds=rates.margin_seconds,
    )


def selected_tables(spec: SyncSpec, names: list[str]) -> list[tuple[str, str]] | None:
    if not names:
        return None
    try:
        found = [spec.find_table(name) for name in names]
    except KeyError as error:
        raise ConfigError(str(error.args[0])) from None
    return list(dict.fromkeys((base.key, table.key) for base, table in found))


class ProgressDisplay:
    """One rich progress bar per table, fed by the engine's progress events (from worker threads)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        name = f"{event.base}.{event.table}"
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self.progress.add_task("", total=None, name=name, status="starting")
        status = {
            "started": "starting",
            "planned": f"{event.mode}: {event.ranges_total} range(s)",
            "page": f"{event.mode}: {event.ranges_done}/{event.ranges_total} range(s)",
            "finished": "done",
            "failed": "[red]failed",
        }.get(event.phase, event.phase)
        total = event.expected_rows if event.phase not in ("finished", "failed") else event.rows_seen
        if total is not None and total < event.rows_seen:
            total = event.rows_seen  # more records than the mirror had: grow the bar
        self.progress.update(task, completed=event.rows_seen, total=total, status=status)

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()


def summary_table(results: list[SyncResult]) -> Table:
    table = Table(title="airtable-pg sync")
    table.add_column("table", no_wrap=True)
    table.add_column("mode")
    for heading in ("rows", "seen", "inserted", "updated", "tombstoned", "cell errors"):
        table.add_column(heading, justify="right")
    for heading in ("requests", "429s", "seconds"):
        table.add_column(heading, justify="right")
    for r in results:
        table.add_row(
            f"{r.base}.{r.table}",
            r.mode,
            str(r.row_count),
            str(r.rows_seen),
            str(r.inserted),
            str(r.updated),
            str(r.tombstoned),
            str(r.cell_errors),
            str(r.requests),
            str(r.throttled_429),
            f"{r.duration_s:.1f}",
        )
    return table


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced: an error message may quote a URL or a header."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _database_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    from airtable_pg.postgres.database import sqlalchemy_url

    try:
        return make_url(sqlalchemy_url(url)).password
    except Exception:  # noqa: BLE001 - an unparsable URL has no password we could find; the engine will complain
        return None


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    args = parse_args(argv)
    environ = os.environ if env is None else env
    out, err = _console(), Console(stderr=True)
    secrets: list[str] = []
    try:
        config = airtable_config(environ)
        secrets.append(config.api_key)
        spec = load_spec(environ.get("AIRTABLE_PG_SPEC") or None)
        tables = selected_tables(spec, args.table)
    except (ConfigError, SpecError) as error:
        say(scrub(str(error), secrets))
        return 2
    try:
        url = _database_url(environ)
    except Exception as error:  # noqa: BLE001 - e.g. the embedded server could not start: one line, exit 1
        say(f"no database: {scrub(describe_error(error), secrets)}")
        return 1
    secrets.append(_database_password(url) or "")
    return _sync(spec, url, config, args, tables, out, err, secrets)


def say(message: str) -> None:
    """One line on stderr, never wrapped: logs and CI keep each failure on its own line."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _console() -> Console:
    console = Console()
    # Off a terminal (CI logs, pipes) rich assumes 80 columns and would squeeze the summary; give it room.
    return console if console.is_terminal else Console(width=200)


def _database_url(env: Mapping[str, str]) -> str:
    from airtable_pg.postgres.database import database_url

    return env.get("DATABASE_URL") or database_url()


def _sync(
    spec: SyncSpec,
    url: str,
    config: AirtableConfig,
    args: argparse.Namespace,
    tables: list[tuple[str, str]] | None,
    out: Console,
    err: Console,
    secrets: list[str],
) -> int:
    def fail(message: str) -> None:
        say(scrub(message, secrets))

    display = ProgressDisplay(err)
    engine: SyncEngine | None = None
    results: list[SyncResult] = []
    failures: dict[str, BaseException] = {}
    try:
        engine = SyncEngine(spec, url, config, workers=args.workers, progress=display)
        with display:
            results = engine.sync_tables(args.mode, tables)
    except SyncFailed as error:
        results, failures = error.results, error.failures
    except KeyboardInterrupt:
        fail("interrupted: running syncs were cancelled (nothing was tombstoned)")
        return 130
    except Exception as error:  # noqa: BLE001 - any failure becomes one line and an exit code, never a traceback
        fail(describe_error(error))
        return 1
    finally:
        if engine is not None:
            engine.close()
    if results:
        out.print(summary_table(results))
        for r in results:
            if r.fallback_reason:
                out.print(f"{r.base}.{r.table}: {r.fallback_reason}", markup=False, highlight=False)
    for name, error in failures.items():
        fail(f"{name} failed: {describe_error(error)}")
    return 1 if failures else 0


def main() -> int:
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
