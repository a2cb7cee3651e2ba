"""``airtable-pg db roles``: the three roles and Dagster's database, named by settings, passwords never printed."""

from __future__ import annotations

import os

import psycopg

from airtable_pg import cli
from airtable_pg.postgres.database import libpq_url

DAGSTER_PASSWORD = "DagsterRolePw-91c3e0"


def test_db_roles_creates_three_roles_and_dagsters_database(new_database, monkeypatch, capsys, tmp_path):
    url = new_database("cli_roles")
    names = {"migrator": f"cli_migrator_{os.getpid()}", "runtime": f"cli_runtime_{os.getpid()}",
             "dagster": f"cli_dagster_{os.getpid()}", "database": f"cli_dagster_db_{os.getpid()}"}  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    monkeypatch.setenv("AIRTABLE_PG_MIGRATOR_ROLE", names["migrator"])
    monkeypatch.setenv("AIRTABLE_PG_RUNTIME_ROLE", names["runtime"])
    monkeypatch.setenv("AIRTABLE_PG_DAGSTER_ROLE", names["dagster"])
    monkeypatch.setenv("AIRTABLE_PG_DAGSTER_DATABASE", names["database"])
    monkeypatch.setenv("AIRTABLE_PG_DAGSTER_PASSWORD", DAGSTER_PASSWORD)
    assert cli.main(["db", "roles"]) == 0
    out = capsys.readouterr()
    assert f"{names['dagster']} (owns database {names['database']}" in out.out
    assert DAGSTER_PASSWORD not in out.out + out.err
    with psycopg.connect(libpq_url(url)) as conn:
        logins = dict(conn.execute("select rolname, rolcanlogin from pg_roles where rolname = any(%s)",
                                   ([names["migrator"], names["runtime"], names["dagster"]],)).fetchall())  # fmt: skip
        owner = conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = %s",
                             (names["database"],)).fetchone()  # fmt: skip
    # only the Dagster role got a password; the others are NOLOGIN, to be granted to login roles
    assert logins == {names["migrator"]: False, names["runtime"]: False, names["dagster"]: True}
    assert owner == (names["dagster"],)
