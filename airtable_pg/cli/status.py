"""``airtable-pg status [--minutes N] [--json]``: the live sync at a glance, from Postgres alone (no Airtable request).

Per table: changes applied in the window and their latency (Airtable's change → our commit) p50/p95/p99, how long
ago it was last fresh (the freshness gate's rule, as ``/metrics`` reports it) and changes waiting in its outbox;
per base: notifications waiting for the applier, dead letters waiting for triage, the webhook's cursor, last pass,
health and expiry; and the alert incidents firing. ``--json`` prints the same figures for scripts. Exit 1 when a
notification has waited longer than a minute or dead letters are open.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, command, command_settings, runtime_database
from airtable_pg.cli.parsing import command_parser
from airtable_pg.observability.metrics import freshness_age, missing_age
from airtable_pg.postgres import incidents, live_status, webhook_state
from airtable_pg.postgres.database import connection_pool
from airtable_pg.postgres.metrics_state import StateSnapshot, read_snapshot
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec, load_spec

STUCK_AFTER = timedelta(minutes=1)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg status", "The live sync at a glance (from Postgres alone).")
    parser.add_argument("--minutes", type=float, default=60.0, help="the window of applied changes (default 60)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (for scripts)")
    return parser


@command("status")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = command_settings("status")
    spec = load_spec(settings.spec_path)
    figures = collect(connection_pool(runtime_database("status", settings)), spec, timedelta(minutes=args.minutes))
    if args.json:
        print(json.dumps(figures, indent=2, default=_iso, ensure_ascii=False))
    else:
        print_text(figures, args.minutes)
    return EXIT_OK if figures["healthy"] else EXIT_FAILED


def collect(db: sa.Engine, spec: SyncSpec, window: timedelta) -> dict[str, Any]:
    """Every figure ``status`` shows, as plain data (what ``--json`` prints)."""
    with transaction(db) as cur:
        snapshot = read_snapshot(cur)
        latencies = {(t.base_id, t.table_id): t for t in live_status.latencies(cur, window)}
        imports = live_status.imports(cur, window)
        hooks = {base.id: webhook_state.load_webhook(cur, base.id) for base in spec.bases.values()}
        firing = [i for i in incidents.all_incidents(cur) if i.state == "firing"]
    tables = []
    for base, table in spec.tables():
        row = latencies.get((base.id, table.id))
        done = imports.get((base.id, table.id))
        pending, oldest = snapshot.outbox.get((base.id, table.id), (0, None))
        tables.append({
            "table": f"{base.key}.{table.key}", "lane": table.lane,
            "rows": done.rows if done else None,
            "live_changes": row.changes if row else 0,
            "p50_seconds": row.p50_seconds if row else None,
            "p95_seconds": row.p95_seconds if row else None,
            "p99_seconds": row.p99_seconds if row else None,
            "last_live_change": row.last_applied_at if row else None,
            "last_full_sync": done.last_full_sync_at if done else None,
            "rows_written_by_full_syncs": done.imported if done else 0,
            "freshness_age_seconds": _round(freshness_age(snapshot, base, table)),
            "freshness_bound_seconds": table.freshness_bound_seconds,
            "outbox_pending": pending,
            "outbox_oldest_age_seconds": _round((snapshot.now - oldest).total_seconds()) if oldest else None,
            **_table_extras(snapshot, base, table),
        })  # fmt: skip
    bases, healthy = [], True
    for base in spec.bases.values():
        count, oldest = snapshot.waiting.get(base.id, (0, None))
        waited = (snapshot.now - oldest).total_seconds() if oldest else None
        stuck = waited is not None and waited > STUCK_AFTER.total_seconds()
        letters = {d: snapshot.dead_letters_open.get((base.id, d), 0) for d in ("inbound", "outbound")}
        healthy &= not stuck and sum(letters.values()) == 0
        hook, row = hooks[base.id], snapshot.webhooks.get(base.id)
        bases.append({
            "base": base.key,
            "webhook": None if hook is None else {
                "cursor": hook.cursor, "last_pass": hook.last_applied_at, "healthy": row.healthy if row else None,
                "expires_in_seconds": _round((row.expires_at - snapshot.now).total_seconds())
                if row and row.expires_at else None,
            },
            "notifications_waiting": count, "oldest_waiting_seconds": _round(waited), "stuck": stuck,
            "dead_letters_open": letters,
            **_base_extras(snapshot, base),
        })  # fmt: skip
    return {
        "at": snapshot.now,
        "window_minutes": window.total_seconds() / 60,
        "tables": tables,
        "bases": bases,
        "incidents_firing": [
            {"alert": i.alert, "scope": i.scope, "since": i.since, "summary": i.summary} for i in firing
        ],
        "healthy": healthy,
        "dagster": {
            "runs_failed": dict(sorted(snapshot.runs_failed.items())),
            "sensors": {
                name: {"failed_ticks": row.failed_ticks, "failing": row.failing}
                for name, row in sorted(snapshot.sensors.items())
            },
        },
    }


def _table_extras(snapshot: StateSnapshot, base: BaseSpec, table: TableSpec) -> dict[str, Any]:
    """The figures /metrics serves per table beyond the text table's: as of the last sync run, and the last probe."""
    state = snapshot.tables.get((base.id, table.id))
    probe = state.probe if state is not None else None
    return {
        "tombstones": state.tombstones if state else None,
        "cell_errors": state.cell_errors if state else None,
        "missing_records_at_last_probe": probe.missing if probe else None,
        "missing_oldest_age_seconds": _round(missing_age(snapshot, base, table)),
    }


def _base_extras(snapshot: StateSnapshot, base: BaseSpec) -> dict[str, Any]:
    rate = snapshot.rate.get(base.id)
    lanes = rate.by_lane() if rate is not None else {}
    archive = snapshot.archive.get(base.id)
    return {
        "airtable_by_lane": {
            lane: {"requests": sent, "throttled_429": throttles, "server_errors_5xx": errors}
            for lane, (sent, throttles, errors) in lanes.items()
        },
        "archive": None if archive is None else {
            "backlog": archive.backlog, "failed": archive.failed,
            "oldest_waiting_seconds": _round((snapshot.now - archive.oldest_pending_at).total_seconds())
            if archive.oldest_pending_at else None,
        },
    }  # fmt: skip


def print_text(figures: dict[str, Any], minutes: float) -> None:
    print(f"last {minutes:g} min. live: changes from webhooks and polls, latency = Airtable's change → committed "
          f"here; fresh = seconds since the last change, sync or webhook pass (its bound); full sync: the last one, "
          f"and rows it wrote in the window (the first import, backfills)")  # fmt: skip
    print(f"{'table':<40} {'rows':>7} {'live':>6} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'fresh s':>13} "
          f"{'outbox':>6}  {'last live change':<25} full sync")  # fmt: skip
    for t in figures["tables"]:
        cells = [_seconds(t[k]) for k in ("p50_seconds", "p95_seconds", "p99_seconds")]
        fresh = "-" if t["freshness_age_seconds"] is None else f"{t['freshness_age_seconds']:.0f}"
        fresh += f" ({t['freshness_bound_seconds']})"
        full = "never" if t["last_full_sync"] is None else _when(t["last_full_sync"])
        if t["rows_written_by_full_syncs"]:
            full += f" ({t['rows_written_by_full_syncs']} rows written)"
        rows = "-" if t["rows"] is None else str(t["rows"])
        print(f"{t['table']:<40} {rows:>7} {t['live_changes']:>6} {cells[0]:>7} {cells[1]:>7} {cells[2]:>7} "
              f"{fresh:>13} {t['outbox_pending']:>6}  {_when(t['last_live_change']):<25} {full}")  # fmt: skip
    for b in figures["bases"]:
        hook = b["webhook"]
        if hook is None:
            hook_text = "no webhook"
        else:
            expires = hook["expires_in_seconds"]
            hook_text = (f"webhook cursor {hook['cursor']}, last pass {_when(hook['last_pass'])}"
                         f"{'' if hook['healthy'] in (True, None) else ' (UNHEALTHY)'}"
                         f"{'' if expires is None else f', expires in {expires / 3600:.1f} h'}")  # fmt: skip
        dead = sum(b["dead_letters_open"].values())
        print(f"{b['base']}: {hook_text}; {b['notifications_waiting']} notification(s) waiting"
              f"{' (STUCK)' if b['stuck'] else ''}; {dead} open dead letter(s)")  # fmt: skip
    for incident in figures["incidents_firing"]:
        print(f"FIRING {incident['alert']} since {_when(incident['since'])}: {incident['summary']}")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else "-"


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
