"""airtable_pg in someone else's Dagster project: ``build_defs`` and the Component, two specs side by side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, Definitions, build_sensor_context, materialize
from dagster.components.core.package_entry import discover_entry_point_package_objects
from dagster.components.testing import create_defs_folder_sandbox

from airtable_pg.dagster import AirtablePgComponent, build_defs
from airtable_pg.defs.jobs import SYNC_EXECUTOR
from airtable_pg.postgres.migrate import DEMO_VERSIONS
from airtable_pg.spec import default_spec_path
from airtable_pg_tests.dagster_resources import runtime_resource

CRM_SPEC = """\
version: 1
bases:
  crm:
    id: appCrmOther000001
    schema: crm
    tables:
      contacts:
        id: tblContacts000001
        airtable_name: Contacts
        authority: airtable
        lane: standard
        poll_interval_seconds: 600
        primary_field: fldContactName001
        fields:
          fldContactName001: {name: Name, type: singleLineText, column: name, pg_type: text}
"""


def test_importing_the_library_reads_no_setting_and_no_spec(tmp_path: Path):
    env = {**os.environ, "AIRTABLE_PG_SPEC": str(tmp_path / "missing.yaml"), "AIRTABLE_PG_RATE_LIMIT": "fast"}
    library = subprocess.run([sys.executable, "-c", "import airtable_pg.dagster"], env=env, capture_output=True)
    assert library.returncode == 0, library.stderr.decode()
    # The same environment breaks this repository's code location, which does read its settings at import.
    location = subprocess.run([sys.executable, "-c", "import airtable_pg.definitions"], env=env, capture_output=True)
    assert location.returncode != 0 and b"AIRTABLE_PG_RATE_LIMIT" in location.stderr


def two_specs(tmp_path: Path) -> Definitions:
    crm = tmp_path / "crm_spec.yaml"
    crm.write_text(CRM_SPEC, encoding="utf-8")
    (tmp_path / "crm_migrations").mkdir()
    return Definitions.merge(
        build_defs(default_spec_path(), prefix="coaching_app", migrations=DEMO_VERSIONS),
        build_defs(crm, prefix="crm", migrations=tmp_path / "crm_migrations"),
    )


def test_two_specs_live_in_one_definitions_with_prefixed_names_and_executors_on_their_jobs(tmp_path: Path):
    defs = two_specs(tmp_path)
    Definitions.validate_loadable(defs)
    assert set(defs.resources or {}) == {"coaching_app__airtable_pg", "crm__airtable_pg"}
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "crm/airtable/crm/contacts" in keys and "coaching_app/airtable/coaching/users" in keys
    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    names = {job.name for job in jobs}
    assert {"crm__full_sync_all", "coaching_app__full_sync_all", "coaching_app__outbound_push"} <= names
    assert all(name.startswith(("crm__", "coaching_app__")) for name in names)
    assert all(job.executor_def == SYNC_EXECUTOR for job in jobs), "each job carries its executor"
    assert defs.executor is None  # the host project's default executor is left alone
    sensors = {sensor.name for sensor in defs.sensors or []}
    assert {"crm__poll_crm__contacts", "coaching_app__poll_coaching__users", "crm__webhook_health"} <= sensors
    assert "crm__outbox_depth" not in sensors  # no Postgres-authoritative table in that spec


def test_a_prefixed_instance_syncs_and_its_sensors_find_their_resource(sandbox_factory, database_url):
    sandbox = sandbox_factory(demo_records=10)
    defs = build_defs(prefix="coaching_app")  # the packaged demo spec and its migrations
    resources = {"coaching_app__airtable_pg": runtime_resource(sandbox.url, sandbox.token, database_url)}
    programs = next(a for a in defs.assets or [] if a.key.path[-1] == "programs")
    result = materialize([programs], resources=resources, instance=DagsterInstance.ephemeral())
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key.path == ["coaching_app", "airtable", "coaching", "programs"]
    poll = next(s for s in defs.sensors or [] if s.name == "coaching_app__poll_coaching__programs")
    with build_sensor_context(instance=DagsterInstance.ephemeral(), resources=resources) as context:
        skipped = poll(context)  # just synced: nothing is due
    assert "synced" in skipped.skip_message and "coaching_app:coaching.programs" in skipped.skip_message


def test_the_component_is_registered_scaffolds_and_loads():
    registered = discover_entry_point_package_objects()
    assert any(obj is AirtablePgComponent for obj in registered.values())
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(component_cls=AirtablePgComponent, defs_path="crm")
        assert (defs_path / "defs.yaml").is_file() and (defs_path / "airtable_pg_spec.yaml").is_file()
        assert (defs_path / "migrations").is_dir()
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, AirtablePgComponent) and component.prefix == "crm"
            assert defs.resolve_job_def("crm__full_sync_all").executor_def == SYNC_EXECUTOR
            assert set(defs.resources or {}) == {"crm__airtable_pg"}
