"""The API's reader: one statement per call on autocommit connections, each bounded in time, a failure not reused."""

from __future__ import annotations

import psycopg
import pytest

from airtable_pg.postgres.api_reads import MirrorReader


def test_reads_are_bounded_autocommit_statements_and_a_failure_is_not_reused(database_url: str) -> None:
    read = MirrorReader(database_url, pool_size=1)
    assert read(lambda cur: cur.execute("show statement_timeout").fetchone()) == ("15s",)
    assert read(lambda cur: cur.connection.autocommit) is True
    with pytest.raises(psycopg.errors.DivisionByZero):
        read(lambda cur: cur.execute("select 1/0"))
    assert read(lambda cur: cur.execute("select 2").fetchone()) == (2,)
