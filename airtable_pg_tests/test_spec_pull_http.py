"""`airtable-pg spec pull` against a live sandbox over HTTP: what a person's spec looks like after each pull.

The CLI function runs in-process (``airtable_pg.cli.spec.main``) with the same environment a user sets
(``AIRTABLE_API_KEY``, ``AIRTABLE_API_URL``), and once as the installed ``airtable-pg`` console script.
Schema drift (a renamed or added field) is made through the sandbox's admin API, as a person in the
Airtable UI would make it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from airtable_pg.cli import spec as spec_command
from airtable_pg.names import MAX_IDENTIFIER_BYTES, RESERVED_COLUMNS
from airtable_pg.spec import KEY_PATTERN, load_spec
from airtable_sandbox.demo import (
    DEMO_BASE_ID,
    DEMO_TABLE_IDS,
    HOSTILE_BASE_ID,
    HOSTILE_BELIEF_FIELDS,
    HOSTILE_STUDENT_FIELDS,
    USER_FIELDS,
)
from airtable_sandbox.demo_project import DEMO_SPEC
from airtable_sandbox.pytest_plugin import SandboxFactory
from airtable_sandbox.server import Sandbox

SHIPPED_SPEC = DEMO_SPEC
USERS = DEMO_TABLE_IDS["users"]


@pytest.fixture
def demo_sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    # The spec depends on the schema only; a handful of records keeps start-up fast.
    return sandbox_factory(demo_records=12)


@pytest.fixture
def airtable_env(monkeypatch: pytest.MonkeyPatch, demo_sandbox: Sandbox) -> Sandbox:
    """The environment a user sets to point `spec pull` at the sandbox."""
    monkeypatch.setenv("AIRTABLE_API_KEY", demo_sandbox.token)
    monkeypatch.setenv("AIRTABLE_API_URL", demo_sandbox.url)
    monkeypatch.delenv("AIRTABLE_PG_SPEC", raising=False)
    return demo_sandbox


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    """A copy of the shipped demo spec, as a user keeps it in their repository."""
    copy = tmp_path / "spec.yaml"
    shutil.copyfile(SHIPPED_SPEC, copy)
    return copy


def pull(spec_path: Path, base_id: str = DEMO_BASE_ID, *extra: str) -> int:
    return spec_command.main(["pull", "--base", base_id, "--spec", str(spec_path), *extra])


def body_lines(path: Path) -> list[str]:
    """The file without its leading comment lines (`spec pull` writes its own header comment)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first_content = next(index for index, line in enumerate(lines) if not line.startswith("#"))
    return lines[first_content:]


def as_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def admin(sandbox: Sandbox, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.request(
        method,
        f"{sandbox.url}/_sandbox/bases/{path}",
        json=body,
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def users_fields(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return spec["bases"]["coaching"]["tables"]["users"]["fields"]


# ------------------------------------------------------------------------------------------------ (a) idempotent


def test_pulling_the_demo_base_reproduces_the_shipped_spec(airtable_env: Sandbox, spec_copy: Path) -> None:
    assert pull(spec_copy) == 0
    assert body_lines(spec_copy) == body_lines(SHIPPED_SPEC)
    assert as_yaml(spec_copy) == as_yaml(SHIPPED_SPEC)
    users = load_spec(spec_copy).bases["coaching"].tables["users"]
    assert (users.lane, users.poll_interval_seconds) == ("fast", 60)  # a person's choice, not pull's default

    first_pull = spec_copy.read_text(encoding="utf-8")
    assert pull(spec_copy) == 0
    assert spec_copy.read_text(encoding="utf-8") == first_pull


def test_hand_made_choices_survive_a_pull(airtable_env: Sandbox, spec_copy: Path) -> None:
    edited = as_yaml(spec_copy)
    goals = edited["bases"]["coaching"]["tables"]["personal_goals"]
    goals.update(mirror="goals", authority="postgres", lane="fast", poll_interval_seconds=15)
    email = users_fields(edited)[USER_FIELDS["email"]]
    email.update(column="login_email")
    users_fields(edited)[USER_FIELDS["member_number"]]["pg_type"] = "integer"
    spec_copy.write_text(yaml.safe_dump(edited, sort_keys=False, allow_unicode=True), encoding="utf-8")

    assert pull(spec_copy) == 0
    assert as_yaml(spec_copy) == edited


def test_the_installed_command_pulls_over_http(airtable_env: Sandbox, spec_copy: Path) -> None:
    command = shutil.which("airtable-pg", path=str(Path(sys.executable).parent)) or "airtable-pg"
    done = subprocess.run(
        [command, "spec", "pull", "--base", DEMO_BASE_ID, "--spec", str(spec_copy)],
        env=dict(os.environ),  # monkeypatch put the sandbox's key and URL here
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {spec_copy}: 6 tables"
    assert body_lines(spec_copy) == body_lines(SHIPPED_SPEC)


# ------------------------------------------------------------------------------------------------ (b), (c) drift


def test_a_renamed_field_changes_only_its_name(airtable_env: Sandbox, spec_copy: Path) -> None:
    notes = USER_FIELDS["notes"]
    admin(airtable_env, "PATCH", f"{DEMO_BASE_ID}/tables/{USERS}/fields/{notes}", {"name": "Coach notes"})
    before_text = spec_copy.read_text(encoding="utf-8").splitlines()
    expected = as_yaml(spec_copy)
    users_fields(expected)[notes]["name"] = "Coach notes"

    assert pull(spec_copy) == 0
    assert as_yaml(spec_copy) == expected
    assert users_fields(as_yaml(spec_copy))[notes]["column"] == "notes"
    changed = [
        (old, new)
        for old, new in zip(before_text[1:], spec_copy.read_text(encoding="utf-8").splitlines()[1:], strict=True)
        if old != new
    ]
    assert changed == [("            name: notes", "            name: Coach notes")]


def test_added_fields_get_fresh_unique_columns_and_their_types(airtable_env: Sandbox, spec_copy: Path) -> None:
    tables = f"{DEMO_BASE_ID}/tables/{USERS}/fields"
    # Names whose slugs are taken: by the existing "last_login" column, and by a reserved mirror column.
    last_seen = admin(
        airtable_env,
        "POST",
        tables,
        {"name": "Last login", "type": "dateTime", "options": {"timeZone": "utc", "dateFormat": {"name": "iso"}}},
    )
    deleted = admin(airtable_env, "POST", tables, {"name": "Deleted at", "type": "checkbox"})
    sessions = admin(airtable_env, "POST", tables, {"name": "Sessions booked", "type": "number"})
    before = as_yaml(spec_copy)

    assert pull(spec_copy) == 0
    after = as_yaml(spec_copy)
    new_ids = [last_seen["id"], deleted["id"], sessions["id"]]
    added = {field_id: users_fields(after)[field_id] for field_id in new_ids}
    assert list(users_fields(after))[-3:] == new_ids  # appended in Airtable's field order
    assert [added[field_id]["pg_type"] for field_id in new_ids] == ["timestamptz", "boolean", "numeric"]
    assert [added[field_id]["type"] for field_id in new_ids] == ["dateTime", "checkbox", "number"]
    assert added[sessions["id"]]["column"] == "sessions_booked"
    assert added[last_seen["id"]]["column"].startswith("last_login_")
    assert added[deleted["id"]]["column"].startswith("deleted_at_")

    columns = [f["column"] for f in users_fields(after).values()]
    assert len(columns) == len(set(columns))
    assert not set(columns) & RESERVED_COLUMNS
    for field_id in new_ids:
        del users_fields(after)[field_id]
    assert after == before  # nothing else moved

    # A second pull keeps the columns it chose.
    chosen = {field_id: users_fields(as_yaml(spec_copy))[field_id]["column"] for field_id in new_ids}
    assert pull(spec_copy) == 0
    assert {field_id: users_fields(as_yaml(spec_copy))[field_id]["column"] for field_id in new_ids} == chosen


# ------------------------------------------------------------------------------------------------ (d) hostile names


def test_the_hostile_base_pulls_into_a_valid_spec(airtable_env: Sandbox, tmp_path: Path) -> None:
    spec_path = tmp_path / "hostile.yaml"
    assert pull(spec_path, HOSTILE_BASE_ID, "--key", "hostile") == 0

    spec = load_spec(spec_path)  # the parser's own rules (identifiers, reserved names, links) hold
    base = spec.bases["hostile"]
    assert base.id == HOSTILE_BASE_ID
    pulled = {field_id for table in base.tables.values() for field_id in table.fields}
    assert pulled == set(HOSTILE_STUDENT_FIELDS.values()) | set(HOSTILE_BELIEF_FIELDS.values())
    mirrors = [table.mirror for table in base.tables.values()]
    assert len(mirrors) == len(set(mirrors))
    for table in base.tables.values():
        assert KEY_PATTERN.match(table.key)
        columns = [f.column for f in table.fields.values()]
        assert len(columns) == len(set(columns)), columns
        for column in columns:
            assert len(column.encode("utf-8")) <= MAX_IDENTIFIER_BYTES, column
            assert column not in RESERVED_COLUMNS, column
            assert column.isascii() and column == column.lower(), column
        for link in table.link_fields:
            assert len(table.join_table(link).encode("utf-8")) <= MAX_IDENTIFIER_BYTES

    first_pull = spec_path.read_text(encoding="utf-8")
    assert pull(spec_path, HOSTILE_BASE_ID) == 0  # the base is found by id: no --key needed again
    assert spec_path.read_text(encoding="utf-8") == first_pull


# ------------------------------------------------------------------------------------------------ (e) no token


def test_a_missing_api_key_is_a_clear_usage_error(
    airtable_env: Sandbox, spec_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIRTABLE_API_KEY")
    before = spec_copy.read_bytes()
    requests_before = airtable_env.stats()["token"]["requests"]

    assert pull(spec_copy) == 2
    assert "AIRTABLE_API_KEY is not set" in capsys.readouterr().err
    assert spec_copy.read_bytes() == before
    assert airtable_env.stats()["token"]["requests"] == requests_before  # it never called the API


def test_a_first_pull_needs_only_airtable_and_leaves_out_the_idempotency_key(
    airtable_env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyairtable import Api

    from airtable_pg.airtable.outbound import ensure_key_field

    api = Api(airtable_env.token, endpoint_url=airtable_env.url)
    for table in ("personal_goals", "persoonlijke_overtuigingen"):  # as `outbound setup` leaves the base
        ensure_key_field(api, DEMO_BASE_ID, DEMO_TABLE_IDS[table], "airtable_pg_id")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nowhere")  # no Postgres answers there
    monkeypatch.setenv("AIRTABLE_PG_HOME", str(tmp_path))
    fresh = tmp_path / "first.yaml"
    assert pull(fresh) == 0
    spec = load_spec(fresh)
    names = {f.name for _, table in spec.tables() for f in table.fields.values()}
    assert "airtable_pg_id" not in names and len(names) > 20
