"""The sync spec: validation with located errors, `spec pull` merge rules, names, and migrations from spec changes."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from alembic import command

from airtable_pg.airtable.client import AirtableConfig
from airtable_pg.names import MAX_IDENTIFIER_BYTES, RESERVED_COLUMNS, column_names, slug
from airtable_pg.postgres.migrate import alembic_config, autogenerate, upgrade
from airtable_pg.spec import SpecError, dump_spec, load_spec, parse_spec
from airtable_pg.spec_pull import merge_base
from airtable_pg.sync.engine import SyncEngine
from airtable_sandbox.demo import DEMO_BASE_ID, HOSTILE_BASE_ID, demo_schema, hostile_schema


def demo_raw() -> dict:
    return yaml.safe_load(Path(load_spec().path).read_text(encoding="utf-8"))


def test_shipped_demo_spec_matches_the_sandbox_demo_base():
    spec = load_spec()
    base = spec.bases["coaching"]
    assert base.id == DEMO_BASE_ID
    schema = {t["id"]: t for t in demo_schema()}
    assert {t.id for t in base.tables.values()} == set(schema)
    for table in base.tables.values():
        assert set(table.fields) == {f["id"] for f in schema[table.id]["fields"]}
    assert base.tables["users"].lane == "fast" and base.tables["users"].poll_interval_seconds == 60


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: r["bases"]["coaching"]["tables"]["users"].update(authority="both"),
            "table coaching.users: authority",
        ),
        (lambda r: r["bases"]["coaching"]["tables"]["users"].update(lane="turbo"), "table coaching.users: lane"),
        (lambda r: r["bases"]["coaching"]["tables"]["users"].update(id="users"), "table id 'users'"),
        (
            lambda r: r["bases"]["coaching"]["tables"]["users"]["fields"]["fldUsrEmail000000"].update(
                pg_type="varchar"
            ),
            "table coaching.users, field fldUsrEmail000000: pg_type 'varchar'",
        ),
        (
            lambda r: r["bases"]["coaching"]["tables"]["users"]["fields"]["fldUsrEmail000000"].update(
                column="deleted_at"
            ),
            "field fldUsrEmail000000: column 'deleted_at' is reserved",
        ),
        (
            lambda r: r["bases"]["coaching"]["tables"]["users"]["fields"]["fldUsrEmail000000"].update(column="x" * 64),
            "not a valid Postgres identifier",
        ),
        (
            lambda r: r["bases"]["coaching"]["tables"]["users"]["fields"]["fldUsrEmail000000"].pop("column"),
            "field fldUsrEmail000000: missing 'column'",
        ),
        (lambda r: r["bases"]["coaching"]["tables"]["users"].update(poll_interval_seconds=0), "poll_interval_seconds"),
        (
            lambda r: r["bases"]["coaching"]["tables"]["methods"].update(mirror="users"),
            "mirror table 'users' is also used by",
        ),
    ],
)
def test_invalid_specs_fail_at_load_naming_file_table_and_field(tmp_path: Path, mutate, message):
    raw = demo_raw()
    mutate(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_duplicate_columns_in_one_table_are_rejected():
    raw = demo_raw()
    fields = raw["bases"]["coaching"]["tables"]["users"]["fields"]
    first, second = list(fields)[:2]
    fields[second]["column"] = fields[first]["column"]
    with pytest.raises(SpecError, match=f"field {second}: column .* is also used by field {first}"):
        parse_spec(raw, "spec.yaml")


def test_missing_file_and_bad_yaml_are_clear(tmp_path: Path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("bases: [unclosed", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_a_key_repeated_anywhere_in_the_yaml_is_rejected_with_file_line_and_key(tmp_path: Path):
    text = Path(load_spec().path).read_text(encoding="utf-8")
    lines = text.splitlines()
    field_line = next(i for i, line in enumerate(lines) if line.strip() == "fldPrgSlug0000000:")
    # The slug field's id again, right below its own block: YAML would silently keep the last one.
    again = "          fldPrgSlug0000000: {type: number, column: x, pg_type: numeric}"
    spec = tmp_path / "spec.yaml"
    spec.write_text("\n".join([*lines[: field_line + 5], again, *lines[field_line + 5 :]]) + "\n", encoding="utf-8")
    with pytest.raises(
        SpecError, match=rf"line {field_line + 6}: duplicate key 'fldPrgSlug0000000' \(first at line {field_line + 1}\)"
    ) as error:
        load_spec(spec)
    assert str(error.value).startswith(str(spec))
    spec.write_text("version: 1\nversion: 1\nbases: {}\n", encoding="utf-8")  # at the top level too
    with pytest.raises(SpecError, match="line 2: duplicate key 'version'"):
        load_spec(spec)
    spec.write_text(
        "a: &base {x: 1}\nversion: 1\nbases:\n  <<: *base\n  x: 2\n", encoding="utf-8"
    )  # overriding a merge is no repeat
    with pytest.raises(SpecError, match="table x: missing 'id'"):
        load_spec(spec)


def test_hostile_names_slug_to_unique_short_identifiers():
    spec_base = merge_base(None, "hostile", HOSTILE_BASE_ID, hostile_schema())
    for table in spec_base.tables.values():
        columns = [f.column for f in table.fields.values()]
        assert len(columns) == len(set(columns)), "two fields share a column"
        assert not set(columns) & RESERVED_COLUMNS
        assert all((len(c.encode()) <= MAX_IDENTIFIER_BYTES and c == slug(c)) or "_" in c for c in columns)
        assert all(len(c.encode()) <= MAX_IDENTIFIER_BYTES for c in columns)
        assert len(table.key.encode()) <= MAX_IDENTIFIER_BYTES
    # stable: the same names get the same columns however often the spec is pulled
    again = merge_base(None, "hostile", HOSTILE_BASE_ID, hostile_schema())
    assert dump_spec_for(spec_base) == dump_spec_for(again)


def dump_spec_for(base) -> str:
    from airtable_pg.spec import SyncSpec

    return dump_spec(SyncSpec(path="x", bases={base.key: base}))


def test_colliding_names_get_hash_suffixes_not_order_dependent_counters():
    names = column_names([("fldAAAAAAAAAAAAAA", "Full Name"), ("fldBBBBBBBBBBBBBB", "full_name"), ("fldC", "id")])
    assert names["fldAAAAAAAAAAAAAA"] == "full_name"
    assert names["fldBBBBBBBBBBBBBB"].startswith("full_name_") and names["fldBBBBBBBBBBBBBB"] != "full_name"
    assert names["fldC"].startswith("id_")


def test_pull_keeps_hand_made_choices_and_binds_columns_to_field_ids():
    tables = demo_schema()
    first = merge_base(None, "coaching", DEMO_BASE_ID, tables)
    users = first.tables["users"]
    email_id = next(fid for fid, f in users.fields.items() if f.type == "email")
    # a person renames the mirror and a column, and moves users to the postgres-authoritative side
    edited_fields = dict(users.fields)
    edited_fields[email_id] = dataclasses.replace(users.fields[email_id], column="login_email")
    edited = dataclasses.replace(
        first,
        tables={
            **first.tables,
            "users": dataclasses.replace(
                users, mirror="app_users", authority="postgres", lane="fast", fields=edited_fields
            ),
        },
    )
    # meanwhile in Airtable: the email field is renamed, a field is added, one changes type
    changed = copy.deepcopy(tables)
    raw_users = next(t for t in changed if t["id"] == users.id)
    raw_email = next(f for f in raw_users["fields"] if f["id"] == email_id)
    raw_email["name"] = "E-mail address (login)"
    raw_users["fields"].append(
        {"id": "fldUsrNewField001", "name": "Login Email", "type": "number", "options": {"precision": 0}}
    )
    text_field = next(f for f in raw_users["fields"] if f["type"] == "singleLineText" and f["id"] != email_id)
    text_field["type"] = "number"
    text_field["options"] = {"precision": 2}
    pulled = merge_base(edited, "coaching", DEMO_BASE_ID, changed).tables["users"]
    assert pulled.mirror == "app_users" and pulled.authority == "postgres" and pulled.lane == "fast"
    assert pulled.fields[email_id].column == "login_email"  # the rename in Airtable moved nothing
    assert pulled.fields[email_id].name == "E-mail address (login)"
    assert pulled.fields["fldUsrNewField001"].column not in {
        f.column for fid, f in pulled.fields.items() if fid != "fldUsrNewField001"
    }
    assert pulled.fields[text_field["id"]].pg_type == "numeric"  # Airtable changed the type: column type follows


def test_autogenerate_after_a_spec_change_yields_the_alter_table(tmp_path: Path, migrated_database):
    raw = demo_raw()
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    url = migrated_database(spec_path)  # chain + a (no-op) autogenerated revision for the unchanged spec
    raw["bases"]["coaching"]["tables"]["users"]["fields"]["fldUsrNickname001"] = {
        "name": "Nickname",
        "type": "singleLineText",
        "column": "nickname",
        "pg_type": "text",
    }
    spec_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    versions = migrated_database.scripts[url]
    config = alembic_config(url, versions=versions, spec_path=spec_path)
    revision = autogenerate(config, "nickname", versions)
    text = Path(revision.path).read_text(encoding="utf-8")
    assert "op.add_column('users', sa.Column('nickname', sa.Text()" in text
    assert "schema='airtable'" in text
    assert "drop_table" not in text
    upgrade(config)
    command.check(config)  # nothing left to migrate


def test_pull_follows_a_computed_fields_new_result_type():
    tables = demo_schema()
    first = merge_base(None, "coaching", DEMO_BASE_ID, tables)
    changed = copy.deepcopy(tables)
    formula = next(
        f
        for t in changed
        for f in t["fields"]
        if f["type"] == "formula"
        and (f["options"].get("result") or {}).get("type") in {"number", "currency", "percent"}
    )
    formula["options"]["result"] = {"type": "singleLineText"}
    pulled = merge_base(first, "coaching", DEMO_BASE_ID, changed)
    spec_field = next(f for t in pulled.tables.values() for fid, f in t.fields.items() if fid == formula["id"])
    assert (spec_field.result_type, spec_field.pg_type) == ("singleLineText", "text")


def test_a_new_table_never_takes_a_mirror_name_a_person_chose():
    tables = demo_schema()
    first = merge_base(None, "coaching", DEMO_BASE_ID, tables)
    renamed = dataclasses.replace(
        first, tables={**first.tables, "users": dataclasses.replace(first.tables["users"], mirror="coaches")}
    )
    grown = [
        *copy.deepcopy(tables),
        {
            "id": "tblCoaches0000001",
            "name": "coaches",
            "primaryFieldId": "fldCoachName00001",
            "fields": [{"id": "fldCoachName00001", "name": "Name", "type": "singleLineText"}],
            "views": [],
        },
    ]
    pulled = merge_base(renamed, "coaching", DEMO_BASE_ID, grown)
    from airtable_pg.spec import SyncSpec, spec_to_dict

    spec = parse_spec(spec_to_dict(SyncSpec(path="x", bases={"coaching": pulled})), "x")  # valid: no clash
    new = next(t for t in spec.bases["coaching"].tables.values() if t.id == "tblCoaches0000001")
    assert new.mirror != "coaches"


def test_pull_from_an_unreachable_endpoint_is_one_clear_line(tmp_path: Path, monkeypatch, capsys):
    from airtable_pg.cli.spec import main as run

    monkeypatch.setenv("AIRTABLE_API_KEY", "patWhatever.secret")
    monkeypatch.setenv("AIRTABLE_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    assert run(["pull", "--base", DEMO_BASE_ID, "--spec", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "could not read the schema of base appCoachingDemo01" in err
    assert "patWhatever.secret" not in err


def test_freshness_bounds_and_quality_rules_are_read_kept_by_pull_and_validated():
    spec = load_spec()
    users, programs = spec.bases["coaching"].tables["users"], spec.bases["coaching"].tables["programs"]
    assert users.freshness_bound_seconds == 120  # fast lane: a new user must reach Postgres within 2 minutes
    assert programs.freshness_bound_seconds == 2 * programs.poll_interval_seconds
    assert users.fields["fldUsrEmail000000"].unique and users.fields["fldUsrEmail000000"].required
    raw = demo_raw()
    raw["bases"]["coaching"]["tables"]["programs"]["freshness_seconds"] = 3600
    parsed = parse_spec(raw)
    assert parsed.bases["coaching"].tables["programs"].freshness_bound_seconds == 3600
    pulled = merge_base(parsed.bases["coaching"], "coaching", DEMO_BASE_ID, demo_schema())
    assert pulled.tables["programs"].freshness_seconds == 3600
    assert pulled.tables["users"].fields["fldUsrEmail000000"].unique  # a person's rule survives a pull
    assert parse_spec(yaml.safe_load(dump_spec(parsed))) == dataclasses.replace(parsed, path="<spec>")
    for key, value, where in (
        ("freshness_seconds", 0, "programs"),
        ("freshness_seconds", "soon", "programs"),
    ):
        bad = demo_raw()
        bad["bases"]["coaching"]["tables"][where][key] = value
        with pytest.raises(SpecError, match="freshness_seconds must be a positive integer"):
            parse_spec(bad)
    bad = demo_raw()
    bad["bases"]["coaching"]["tables"]["users"]["fields"]["fldUsrEmail000000"]["unique"] = "yes"
    with pytest.raises(SpecError, match="fldUsrEmail000000: unique must be true or false"):
        parse_spec(bad)


def test_a_bases_share_of_the_rate_limit_is_read_kept_by_pull_validated_and_paces_its_bucket():
    raw = demo_raw()
    raw["bases"]["coaching"]["requests_per_second"] = 4
    parsed = parse_spec(raw)
    assert parsed.base_rates() == {DEMO_BASE_ID: 4.0} and load_spec().base_rates() == {}
    assert merge_base(parsed.bases["coaching"], "coaching", DEMO_BASE_ID, demo_schema()).requests_per_second == 4.0
    assert parse_spec(yaml.safe_load(dump_spec(parsed))) == dataclasses.replace(parsed, path="<spec>")
    limiter = AirtableConfig(api_key="patX").for_spec(parsed).rate_limiter(sa.create_engine("postgresql://"))
    assert limiter.spacing_of(DEMO_BASE_ID) >= 1 / 4 and limiter.spacing_of("appOtherBase00001") < 1 / 4
    engine = SyncEngine(parsed, "postgresql://nobody@localhost/none", AirtableConfig(api_key="patX"), workers=1)
    assert engine.limiter.spacing_of(DEMO_BASE_ID) >= 1 / 4  # what a sync books with (it connects lazily)
    engine.close()
    for value in (0, 6, "fast", True):
        raw["bases"]["coaching"]["requests_per_second"] = value
        with pytest.raises(SpecError, match=r"requests_per_second .* must be a number above 0 and at most"):
            parse_spec(raw)
