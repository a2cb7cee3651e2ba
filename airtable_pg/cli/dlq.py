"""``airtable-pg dlq list | show ID | replay ID… | replay --all | discard ID --reason TEXT``: triage dead letters.

Inbound letters (webhook payloads the applier could not apply) and outbound ones (outbox changes Airtable
refused or that ran out of attempts) alike; see docs/runbook.md. Replaying an outbound letter re-queues its
change and pushes the outbox at once; an inbound one is re-applied through the applier in one transaction.
Replay is idempotent (a closed letter is skipped); discard keeps the letter, with the reason, as the audit trail.
"""

from __future__ import annotations

import argparse
import json

from airtable_pg.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command, command_runtime, command_settings, fail
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres import dead_letters as letters
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import SyncSpec
from airtable_pg.sync import dead_letters


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg dlq", "Dead letters: triage, replay, discard.")
    sub = subcommands(parser)
    listing = subcommand(sub, "list", "dead letters: table, record (or Postgres row), attempts, last error")
    listing.add_argument(
        "--status",
        choices=("open", "replayed", "discarded", "all"),
        default="open",
        help="open: waiting for triage; replayed: delivered by a replay; discarded: closed by hand",
    )
    listing.add_argument("--direction", choices=("inbound", "outbound"), help="only this direction (default: both)")
    show = subcommand(sub, "show", "one letter: error, payload, attempt history, resolution")
    show.add_argument("id", type=int, help="the letter's id (first column of `dlq list`)")
    replay = subcommand(
        sub,
        "replay",
        "apply (inbound) or push (outbound) these letters again; a letter that fails again stays open",
    )
    replay.add_argument("ids", type=int, nargs="*", help="letter ids")
    replay.add_argument("--all", action="store_true", help="every open letter")
    discard = subcommand(sub, "discard", "close a letter without applying it (kept for the audit)")
    discard.add_argument("id", type=int, help="the letter's id")
    discard.add_argument("--reason", required=True, help="why, quoted when it has spaces (kept with the letter)")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@command("dlq")
def main(argv: list[str]) -> int:
    args = parse_args(argv)
    runtime = command_runtime("dlq", command_settings("dlq"))
    db = runtime.db
    if args.action == "list":
        with transaction(db) as cur:
            found = letters.list_letters(
                cur, status=None if args.status == "all" else args.status, direction=args.direction
            )
        names = _table_names(runtime.spec)
        print(f"{'id':>6}  {'direction':<9} {'status':<10} {'table':<36} {'record':<46} {'tries':>5}  error")
        for letter in found:
            table = names.get((letter.base_id, letter.table_id), letter.table_id or "-")
            print(f"{letter.id:>6}  {letter.direction:<9} {letter.status:<10} {table:<36} {_record(letter):<46} "
                  f"{letter.attempts:>5}  {letter.error[:100]}")  # fmt: skip
        if not found:
            print(f"(no {'' if args.status == 'all' else args.status + ' '}dead letters)")
        return EXIT_OK
    if args.action == "show":
        with transaction(db) as cur:
            letter = letters.get(cur, args.id)
        if letter is None:
            fail("dlq", f"no dead letter {args.id}")
            return EXIT_USAGE
        print(json.dumps(_as_dict(letter), indent=2, default=str, ensure_ascii=False))
        return EXIT_OK
    if args.action == "discard":
        closed = dead_letters.discard(db, args.id, args.reason)
        print(f"dead letter {args.id}: {'discarded' if closed else 'was closed already; unchanged'}")
        return EXIT_OK
    if not args.ids and not args.all:
        fail("dlq", "replay needs letter ids or --all")
        return EXIT_USAGE
    if args.all:
        with transaction(db) as cur:
            args.ids = letters.open_ids(cur)
    pusher = runtime.pusher()
    outcome = dead_letters.replay(runtime.spec, db, pusher.api, args.ids)
    for letter_id in outcome.replayed:
        print(f"dead letter {letter_id}: applied; closed as replayed")
    for letter_id in outcome.skipped:
        print(f"dead letter {letter_id}: closed already (replayed or discarded before); unchanged")
    for letter_id, error in outcome.failed.items():
        print(f"dead letter {letter_id}: still fails, stays open: {error}")
    still_open = bool(outcome.failed)
    for letter_id in outcome.requeued:
        print(f"dead letter {letter_id}: re-queued in the outbox; pushing")
    if outcome.requeued:
        report = pusher.push_all()
        print(f"outbox pushed: {report.pushed} change(s), {report.dead_lettered} failed again")
        undelivered = dead_letters.still_open(db, outcome.requeued)
        for letter_id in outcome.requeued:
            letter = undelivered.get(letter_id)
            if letter is None:
                print(f"dead letter {letter_id}: delivered to Airtable; closed as replayed")
            else:
                print(f"dead letter {letter_id}: not delivered, stays open ({letter.attempts} attempt(s)); "
                      f"last error: {letter.error}")  # fmt: skip
        still_open |= bool(undelivered)
    return EXIT_FAILED if still_open else EXIT_OK


def _table_names(spec: SyncSpec) -> dict[tuple[str, str | None], str]:
    return {(base.id, table.id): f"{base.key}.{table.key}" for base, table in spec.tables()}


def _record(letter: letters.DeadLetter) -> str:
    """The Airtable record, or for a change Airtable has no record of yet (an insert) the Postgres row."""
    if letter.airtable_id:
        return letter.airtable_id
    payload = letter.payload if isinstance(letter.payload, dict) else {}
    if payload.get("row_id"):
        operation = payload.get("operation", "upsert")
        return f"row {payload['row_id']} ({'insert' if operation == 'upsert' else operation})"
    return "-"


def _as_dict(letter: letters.DeadLetter) -> dict:
    return {name: getattr(letter, name) for name in letter.__dataclass_fields__}
