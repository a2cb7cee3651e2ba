"""A Dagster instance on dagster-postgres storage, used the way the webserver and run workers use it."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, DagsterRun, job, op


@op
def hello() -> int:
    return 1


@job
def storage_probe() -> None:
    hello()


def store_a_run(storage_url: str, home: Path) -> DagsterRun:
    """Point a fresh ``DAGSTER_HOME`` at ``storage_url`` (Dagster creates its tables on first use), run a job in it
    and read the run and its event log back; returns the stored run."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: '{storage_url}'\ntelemetry:\n  enabled: false\n"
    )
    with DagsterInstance.from_config(str(home)) as instance:
        result = storage_probe.execute_in_process(instance=instance)
        assert result.success
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.is_success
        assert instance.all_logs(result.run_id)
        return stored
