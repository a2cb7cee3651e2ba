"""``airtable-pg sync --full | --incremental [--table T …] [--workers N]``: sync now, from a terminal.

A progress bar per table while it runs, then a summary table. Exit code 0 when every table synced,
1 when one failed (with a one-line reason per failed table), 2 for a usage or configuration error,
130 when interrupted (Ctrl-C or SIGTERM: running syncs are cancelled and tombstone nothing).
Settings come from the environment (``airtable_pg.settings``; `airtable-pg config` shows them).
"""

from __future__ import annotations

import argparse
import json
import signal
from collections.abc import Mapping, Sequence
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from airtable_pg.cli.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    command,
    fail,
    known_failure,
    note,
    register_secrets,
    runtime_database,
    scrub,
)
from airtable_pg.cli.parsing import command_parser
from airtable_pg.postgres.cell_errors import field_errors, query_text
from airtable_pg.postgres.transaction import transaction
from airtable_pg.runtime import Runtime
from airtable_pg.settings import ConfigError, Settings, load_settings
from airtable_pg.spec import SpecError, SyncSpec, load_spec
from airtable_pg.sync.engine import SyncEngine, SyncFailed, SyncResult
from airtable_pg.sync.table_sync import ProgressEvent, describe_error

PROG = "airtable-pg sync"


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(PROG, "Sync Airtable tables into Postgres now.")
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
    mode.add_argument(
        "--computed",
        dest="mode",
        action="store_const",
        const="computed",
        help="re-read only computed cells (formula, rollup, lookup, count) and write the rows they changed",
    )
    parser.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="T",
        help="base.table, table key, mirror name or Airtable table id/name; repeatable (default: every table)",
    )
    parser.add_argument("--workers", type=int, help="requests in flight (default: AIRTABLE_PG_WORKERS, 8)")
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def selected_tables(spec: SyncSpec, names: list[str]) -> list[tuple[str, str]] | None:
    if not names:
        return None
    found = [spec.find_table(name) for name in names]
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
    for heading in ("rows", "seen", "inserted", "updated", "unchanged", "restored", "tombstoned", "cell errors"):
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
            str(r.unchanged),
            str(r.restored),
            str(r.tombstoned),
            str(r.cell_errors),
            str(r.requests),
            str(r.throttled_429),
            f"{r.duration_s:.1f}",
        )
    return table


@command("sync")
def main(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(env)
        register_secrets(settings.secrets())
        settings.require_api_key()  # a missing token is a usage error, said before any database starts
        spec = load_spec(settings.spec_path)
        tables = selected_tables(spec, args.table)
    except (ConfigError, SpecError) as error:
        say(str(error))
        return EXIT_USAGE
    if settings.dev_stack_note:
        note("sync", settings.dev_stack_note)
    try:
        runtime = Runtime.from_settings(settings, database_url=runtime_database("sync", settings), spec=spec)
    except Exception as error:  # noqa: BLE001 - e.g. the embedded server could not start: one line, exit 1
        known = known_failure(error)
        if known is not None:
            say(known.message)
            return known.exit_code
        say(f"no database: {describe_error(error)}")
        return EXIT_FAILED
    code, results = _sync(runtime, args.workers or settings.workers, args.mode, tables)
    if results:
        _record_on_dagster(settings, runtime, results)
    return code


def _record_on_dagster(settings: Settings, runtime: Runtime, results: list[SyncResult]) -> None:
    """The Dagster UI hears of this sync too (beside ``make dev``: the stack's instance), with its gates."""
    if settings.dagster_home is None:
        return
    from airtable_pg.defs.instance_events import record_syncs, recorder_for

    recorder = recorder_for(settings)
    if recorder is None:
        return
    recorded = record_syncs(recorder, runtime.checks(), results, source=PROG)
    note("sync", recorded.line())


def say(message: str) -> None:
    fail("sync", message)


def _console() -> Console:
    console = Console()
    # Off a terminal (CI logs, pipes) rich assumes 80 columns and would squeeze the summary; give it room.
    return console if console.is_terminal else Console(width=200)


class Terminated(KeyboardInterrupt):
    """SIGTERM (containers, systemd, Dagster's run termination): stop exactly as Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _sync(
    runtime: Runtime,
    workers: int,
    mode: str,
    tables: list[tuple[str, str]] | None,
) -> tuple[int, list[SyncResult]]:
    """Sync and print; the exit code and the results of the tables that synced."""
    out, err = _console(), Console(stderr=True)
    display = ProgressDisplay(err)
    engine: SyncEngine | None = None
    results: list[SyncResult] = []
    failures: dict[str, BaseException] = {}
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        engine = runtime.sync_engine(workers=workers, progress=display)
        with display:
            results = engine.sync_tables(mode, tables)
    except SyncFailed as error:
        results, failures = error.results, error.failures
    except KeyboardInterrupt as error:
        why = "terminated" if isinstance(error, Terminated) else "interrupted"
        say(f"{why}: running syncs were cancelled (nothing was tombstoned)")
        return EXIT_INTERRUPTED, []
    except Exception as error:  # noqa: BLE001 - any failure becomes one line and an exit code, never a traceback
        known = known_failure(error)
        say(known.message if known else describe_error(error))
        return (known.exit_code if known else EXIT_FAILED), []
    finally:
        if engine is not None:
            engine.close()  # cancels what still runs: its runs are marked failed
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if results:
        out.print(summary_table(results))
        for r in results:
            if r.fallback_reason:
                out.print(f"{r.base}.{r.table}: {r.fallback_reason}", markup=False, highlight=False)
        explain_cell_errors(out, runtime, results)
    for name, error in failures.items():
        say(f"{name} failed: {scrub(describe_error(error))}")
    return (EXIT_FAILED if failures else EXIT_OK), results


def explain_cell_errors(out: Console, runtime: Runtime, results: list[SyncResult]) -> None:
    """What the summary's cell errors are: per field a count, an example and the query that lists them all."""
    tables = [
        (base, table) for r in results if r.cell_errors for base, table in [runtime.spec.table(r.base, r.table)]
    ]
    if not tables:
        return
    text = [
        "cell errors: cells whose value the typed column cannot hold (Airtable's error values such as "
        '{"error": "#ERROR!"} or {"specialValue": "NaN"}, from formulas). Nothing is lost: the column is NULL and '
        "the raw cell stays in the row's `fields` (jsonb, by field id). Per field, in live rows now:"
    ]
    with transaction(runtime.db) as cur:
        for base, table in tables:
            for found in field_errors(cur, base, table):
                value = json.dumps(found.example_value, ensure_ascii=False)
                text.append(
                    f"  {base.key}.{table.key}: {found.count} in {found.field.name!r} ({found.field.id} → column "
                    f"{found.field.column} {found.field.pg_type}), e.g. {found.example_record} = {value}"
                )
                text.append(f"    list them: {query_text(base, table, found.field)}")
    out.print("\n".join(text), markup=False, highlight=False, soft_wrap=True)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
