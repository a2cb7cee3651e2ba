"""``airtable-pg authority show``: the data authority matrix — who owns each table, and which way changes flow.

From the spec (``authority: airtable | postgres``) and, when the database is reachable, each
Postgres-authoritative table's outbox (pending and dead changes). Changing a table's authority is a spec change
with a migration (``airtable-pg db revision`` adds or drops the table's outbox trigger); dropping it is refused
while that table's outbox still holds unpushed changes.
"""

from __future__ import annotations

import argparse

from airtable_pg.cli.output import EXIT_OK, command, command_settings, note
from airtable_pg.cli.parsing import command_parser, subcommand, subcommands
from airtable_pg.postgres import outbox
from airtable_pg.postgres.database import connection_pool, database_url
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import SyncSpec, load_spec

FLOWS = {"airtable": "Airtable → Postgres", "postgres": "Postgres → Airtable (outbox)"}


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg authority", "The data authority matrix.")
    subcommand(subcommands(parser), "show", "each table's authority, flow, conflict policy and outbox")
    return parser


@command("authority")
def main(argv: list[str]) -> int:
    build_parser().parse_args(argv)
    settings = command_settings("authority")
    spec = load_spec(settings.spec_path)
    depths = _outbox_depths(spec, settings)
    print(f"{'table':<38} {'authority':<10} {'flow':<30} {'conflicts':<14} {'typecast':<9} outbox")
    for base, table in spec.tables():
        postgres = table.is_postgres_authoritative
        depth = depths.get((base.id, table.id)) if depths is not None else None
        queue = "-" if not postgres else ("?" if depths is None else f"{depth[0]} pending, {depth[1]} dead")
        policy = table.conflict_policy if postgres else "-"
        typecast = ("yes" if table.typecast else "no") if postgres else "-"
        print(f"{base.key + '.' + table.key:<38} {table.authority:<10} {FLOWS[table.authority]:<30} "
              f"{policy:<14} {typecast:<9} {queue}")  # fmt: skip
    return EXIT_OK


def _outbox_depths(spec: SyncSpec, settings) -> dict[tuple[str, str], tuple[int, int]] | None:
    if not any(t.is_postgres_authoritative for _, t in spec.tables()):
        return {}
    try:
        with transaction(connection_pool(database_url(settings))) as cur:
            rows = outbox.depth(cur)
    except Exception as error:  # noqa: BLE001 - the matrix itself needs no database
        note("authority", f"outbox depths unknown ({type(error).__name__}); showing the spec alone")
        return None
    found = {(d.base_id, d.table_id): (d.pending, d.dead) for d in rows}
    return {(b.id, t.id): found.get((b.id, t.id), (0, 0)) for b, t in spec.tables()}
