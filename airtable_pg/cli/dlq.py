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
from airtable_pg.postgres import dead_letters as letters
from airtable_pg.postgres.transaction import transaction
from airtable_pg.sync import dead_letters


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="airtable-pg dlq", description="Dead letters: triage, replay, discard.")
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="dead letters (open ones unless --status)")
    listing.add_argument("--status", choices=("open", "replayed", "discarded", "all"), default="open")
    listing.add_argument("--direction", choices=("inbound", "outbound"))
    show = sub.add_parser("show", help="one letter: error, payload, attempt history, resolution")
    show.add_argument("id", type=int)
    replay = sub.add_parser("replay", help="apply (inbound) or push (outbound) these letters again")
    replay.add_argument("ids", type=int, nargs="*")
    replay.add_argument("--all", action="store_true", help="every open letter")
    discard = sub.add_parser("discard", help="close a letter without applying it (kept for the audit)")
    discard.add_argument("id", type=int)
    discard.add_argument("--reason", required=True, help="why (kept with the letter)")
    return parser.parse_args(argv)


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
        print(f"{'id':>6}  {'direction':<9} {'status':<10} {'table':<18} {'record':<18} {'tries':>5}  error")
        for letter in found:
            print(f"{letter.id:>6}  {letter.direction:<9} {letter.status:<10} {letter.table_id or '-':<18} "
                  f"{letter.airtable_id or '-':<18} {letter.attempts:>5}  {letter.error[:100]}")  # fmt: skip
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
        print(f"dead letter {letter_id}: replayed")
    for letter_id in outcome.skipped:
        print(f"dead letter {letter_id}: closed already; unchanged")
    for letter_id, error in outcome.failed.items():
        print(f"dead letter {letter_id}: still fails, stays open: {error}")
    if outcome.replayed:
        report = pusher.push_all()
        print(f"outbox pushed: {report.pushed} change(s), {report.dead_lettered} dead-lettered again")
        if report.dead_lettered:
            return EXIT_FAILED
    return EXIT_FAILED if outcome.failed else EXIT_OK


def _as_dict(letter: letters.DeadLetter) -> dict:
    return {name: getattr(letter, name) for name in letter.__dataclass_fields__}
