from airtable_pg.cli import run

run()
