"""`airtable-pg sync --full` explains its cell errors (per field, an example, nothing lost, how to list them), and
`airtable-pg status` shows the first import instead of 0 changes everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from airtable_pg import cli
from airtable_pg.postgres.database import libpq_url
from airtable_pg_tests.cli.test_sync import environment
from airtable_sandbox.server import Sandbox

EXPLAINED = re.compile(r"^  coaching\.(\w+): (\d+) in '[^']+' \((fld\w+) → column (\w+) \w+\), e\.g\. (rec\w+) = (.+)$")


def summary_cell_errors(out: str) -> dict[str, int]:
    """The summary table's cell-error column, per table (rich draws it with │ between cells)."""
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0].startswith("coaching."):
            found[cells[0].removeprefix("coaching.")] = int(cells[9])
    return found


@pytest.fixture
def env(sandbox: Sandbox, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environment(sandbox, database_url, AIRTABLE_PG_HOME=str(tmp_path)).items():
        monkeypatch.setenv(name, value)


def test_cell_errors_are_explained_per_field_with_an_example_and_a_query(env, database_url, capsys) -> None:
    assert cli.main(["sync", "--full"]) == 0
    out = capsys.readouterr().out
    in_summary = {table: n for table, n in summary_cell_errors(out).items() if n}
    assert in_summary, "the demo base has formula errors: this test needs some"
    assert "Nothing is lost: the column is NULL and the raw cell stays in the row's `fields`" in out
    explained: dict[str, int] = {}
    lines = out.splitlines()
    with psycopg.connect(libpq_url(database_url)) as conn:
        for i, line in enumerate(lines):
            match = EXPLAINED.match(line)
            if not match:
                continue
            table, count, field_id, column, record, value = match.groups()
            explained[table] = explained.get(table, 0) + int(count)
            # The example is the raw cell as stored, and its column is NULL.
            stored = conn.execute(
                f"select fields -> %s, {column} from airtable.{table} where airtable_id = %s", (field_id, record)
            ).fetchone()
            assert stored == (json.loads(value), None)
            query = lines[i + 1].removeprefix("    list them: ")
            assert len(conn.execute(query).fetchall()) == int(count)  # the printed query lists exactly them
    assert explained == in_summary  # every error of the summary is accounted for, field by field


def test_status_after_the_first_import_shows_rows_and_the_import(env, capsys) -> None:
    assert cli.main(["sync", "--full"]) == 0
    capsys.readouterr()
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    users = next(line for line in out.splitlines() if line.startswith("coaching.users "))
    rows, live = users.split()[1:3]
    assert int(rows) > 0 and live == "0"  # no live change yet …
    assert f"({rows} rows written)" in users  # … but the import is there, with its rows
