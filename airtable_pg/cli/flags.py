"""``airtable-pg flags show | set ENTITY MODE --reason TEXT | history [ENTITY]``: per-entity backend flags.

A mode says where an entity's reads are served from: ``airtable``, ``shadow`` (Airtable serves, Postgres is
compared) or ``postgres_primary`` (the mirror serves). ``postgres_primary`` is ``airtable-pg cutover``'s to set,
after its gates; ``flags set`` refuses it without ``--force``. Every change is kept with who, when, from, to and why
(``flags history``). ``DATA_BACKEND_<ENTITY>`` pins an entity in a process's environment; ``show`` says so.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from airtable_pg.cli.output import EXIT_OK, EXIT_USAGE, command, command_runtime, command_settings, fail, note
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres.backend_flags import flag_history
from airtable_pg.postgres.schema import BACKEND_MODES
from airtable_pg.postgres.transaction import transaction
from airtable_pg.routing.flags import BackendFlags, EntityFlag, FlagError

NAME = "flags"


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg flags", "Where each entity's reads are served from during a cutover.")
    sub = subcommands(parser)
    show = subcommand(sub, "show", "every entity's mode, since when, by whom and why, and any pin")
    show.add_argument("--json", action="store_true", help="one JSON object per entity")
    change = subcommand(sub, "set", "store an entity's mode (with an audit row)")
    change.add_argument("entity", help="base.table, or a table key unique in the spec")
    change.add_argument("mode", choices=BACKEND_MODES, help="airtable, shadow or postgres_primary")
    change.add_argument("--reason", required=True, help="why, quoted when it has spaces (kept in the audit trail)")
    change.add_argument("--force", action="store_true", help="allow postgres_primary without the cutover's gates")
    history = subcommand(sub, "history", "the audit trail, newest first")
    history.add_argument("entity", nargs="?", help="only this entity (default: every one)")
    history.add_argument("--limit", type=int, default=50, help="at most this many changes (default 50)")
    return parser


@command(NAME)
def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    runtime = command_runtime(NAME, command_settings(NAME))
    flags = BackendFlags(runtime.db, runtime.spec)
    try:
        if args.action == "set":
            return set_flag(flags, args)
        if args.action == "history":
            return show_history(flags, args.entity, args.limit)
    except FlagError as error:
        fail(NAME, str(error))
        return EXIT_USAGE
    entities = flags.all()
    if args.json:
        for entity in entities:
            print(json.dumps(as_json(entity), ensure_ascii=False))
        return EXIT_OK
    print(f"{'entity':<40} {'mode':<17} {'since':<20} {'by':<12} reason")
    for entity in entities:
        since = entity.since.strftime("%Y-%m-%d %H:%M:%S") if entity.since else "-"
        print(f"{entity.entity:<40} {entity.mode:<17} {since:<20} {entity.updated_by or '-':<12} "
              f"{entity.reason or '(never set: airtable)'}{pin_note(entity)}")  # fmt: skip
    return EXIT_OK


def set_flag(flags: BackendFlags, args: argparse.Namespace) -> int:
    previous, entity = flags.set(args.entity, args.mode, reason=args.reason, force=args.force)
    forced = " (forced)" if args.force else ""
    print(f"{entity.entity}: {previous} → {entity.stored}{forced}, by {entity.updated_by}: {entity.reason}")
    if entity.pinned:
        note(NAME, f"this shell pins {entity.entity} to {entity.mode} ({entity.pinned_by}); processes without "
                   "the pin follow the stored flag")  # fmt: skip
    return EXIT_OK


def show_history(flags: BackendFlags, name: str | None, limit: int) -> int:
    entity = None
    if name is not None:
        base, table = flags.entity(name)
        entity = f"{base.key}.{table.key}"
    with transaction(flags.db) as cur:
        changes = flag_history(cur, entity, limit)
    for change in changes:
        forced = " (forced)" if change.forced else ""
        print(f"{change.at:%Y-%m-%d %H:%M:%S}  {change.entity:<36} {change.from_mode} → {change.to_mode}{forced}  "
              f"by {change.actor} via {change.source}: {change.reason}")  # fmt: skip
    if not changes:
        print("(no flag changes yet: every entity is served from airtable)")
    return EXIT_OK


def pin_note(entity: EntityFlag) -> str:
    if entity.pin_problem:
        return f"  [PIN INVALID: {entity.pin_problem}; serving airtable]"
    if entity.pinned:
        return f"  [PINNED by {entity.pinned_by}; stored: {entity.stored}]"
    return ""


def as_json(entity: EntityFlag) -> dict:
    return {
        "entity": entity.entity,
        "mode": entity.mode,
        "stored": entity.stored,
        "since": entity.since.isoformat() if entity.since else None,
        "updated_by": entity.updated_by,
        "reason": entity.reason,
        "version": entity.version,
        "pinned_by": entity.pinned_by,
        "pin_problem": entity.pin_problem,
    }
