"""``airtable-pg status [--minutes N]``: the live sync at a glance, from Postgres alone (no Airtable request).

Per table: changes applied in the window and their latency (Airtable's change → our commit) p50/p95/p99;
per base: notifications waiting for the applier, dead letters waiting for triage, the webhook's cursor and
last pass. Exit 1 when a notification has waited longer than a minute or dead letters are open.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, command, command_settings, runtime_database
from airtable_pg.cli.parsing import command_parser
from airtable_pg.postgres import live_status, webhook_state
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import load_spec

STUCK_AFTER = timedelta(minutes=1)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg status", "The live sync at a glance (from Postgres alone).")
    parser.add_argument("--minutes", type=float, default=60.0, help="the window of applied changes (default 60)")
    return parser


@command("status")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = command_settings("status")
    spec = load_spec(settings.spec_path)
    window = timedelta(minutes=args.minutes)
    with transaction(connection_pool(runtime_database("status", settings))) as cur:
        latencies = {(t.base_id, t.table_id): t for t in live_status.latencies(cur, window)}
        imports = live_status.imports(cur, window)
        waiting = live_status.waiting_notifications(cur)
        letters = live_status.open_dead_letters(cur)
        hooks = {base.id: webhook_state.load_webhook(cur, base.id) for base in spec.bases.values()}
    healthy = True
    print(f"last {args.minutes:g} min. live: changes from webhooks and polls, latency = Airtable's change → committed "
          f"here; full sync: the last one, and rows it wrote in the window (the first import, backfills)")  # fmt: skip
    print(f"{'table':<40} {'rows':>7} {'live':>6} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7}  {'last live change':<25} "
          "full sync")  # fmt: skip
    for base, table in spec.tables():
        row = latencies.get((base.id, table.id))
        cells = [_seconds(v) for v in (row.p50_seconds, row.p95_seconds, row.p99_seconds)] if row else ["-"] * 3
        last = _when(row.last_applied_at) if row else "-"
        done = imports.get((base.id, table.id))
        rows = "-" if done is None or done.rows is None else str(done.rows)
        full = "never" if done is None or done.last_full_sync_at is None else _when(done.last_full_sync_at)
        if done is not None and done.imported:
            full += f" ({done.imported} rows written)"
        print(f"{base.key + '.' + table.key:<40} {rows:>7} {row.changes if row else 0:>6} {cells[0]:>7} {cells[1]:>7} "
              f"{cells[2]:>7}  {last:<25} {full}")  # fmt: skip
    for base in spec.bases.values():
        count, oldest = waiting.get(base.id, (0, None))
        hook = hooks[base.id]
        stuck = oldest is not None and datetime.now(UTC) - oldest > STUCK_AFTER
        dead = sum(n for (base_id, _), n in letters.items() if base_id == base.id)
        healthy &= not stuck and dead == 0
        hook_text = f"webhook cursor {hook.cursor}, last pass {_when(hook.last_applied_at)}" if hook else "no webhook"
        print(f"{base.key}: {hook_text}; {count} notification(s) waiting{' (STUCK)' if stuck else ''}; "
              f"{dead} open dead letter(s)")  # fmt: skip
    return EXIT_OK if healthy else EXIT_FAILED


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"
