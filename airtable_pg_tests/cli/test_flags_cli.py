"""`airtable-pg flags show | set | history` as a person runs them during a cutover."""

from __future__ import annotations

import json

import pytest

from airtable_pg import cli
from airtable_pg_tests.cli.test_outbound_cli import env, run

__all__ = ["env"]  # the fixture, used by name


def test_flags_set_show_and_history(env, capsys) -> None:
    code, out = run(capsys, "flags", "show")
    assert code == 0 and "coaching.users" in out and "(never set: airtable)" in out

    code, out = run(capsys, "flags", "set", "users", "shadow", "--reason", "compare for a week")
    assert code == 0 and out.startswith("coaching.users: airtable → shadow, by ") and "compare for a week" in out

    code, out = run(capsys, "flags", "show", "--json")
    users = next(json.loads(line) for line in out.splitlines() if json.loads(line)["entity"] == "coaching.users")
    assert users["mode"] == "shadow" and users["version"] == 1 and users["pinned_by"] is None

    code, out = run(capsys, "flags", "history", "users")
    assert code == 0 and "coaching.users" in out and "airtable → shadow" in out and "via cli: compare for a week" in out


def test_a_refused_change_says_why_in_one_line(env, capsys) -> None:
    code = cli.main(["flags", "set", "users", "postgres_primary", "--reason", "go"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    [line] = [line for line in captured.err.splitlines() if "postgres_primary" in line]
    assert line.startswith("airtable-pg flags: coaching.users: postgres_primary is set by `airtable-pg cutover")


def test_a_pinned_entity_is_shown_as_pinned(env, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_BACKEND_USERS", "airtable")
    run(capsys, "flags", "set", "users", "shadow", "--reason", "test")
    code, out = run(capsys, "flags", "show")
    [users] = [line for line in out.splitlines() if line.startswith("coaching.users ")]
    assert code == 0 and "[PINNED by DATA_BACKEND_USERS; stored: shadow]" in users and users.split()[1] == "airtable"
