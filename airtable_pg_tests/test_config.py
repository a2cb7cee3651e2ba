"""The CLI and the Dagster resources read the same rate settings, so every process paces a base alike."""

from __future__ import annotations

import pytest

from airtable_pg.config import ConfigError
from airtable_pg.defs.resources import airtable_resource_from_env
from airtable_pg.spec import load_spec
from airtable_pg.sync.cli_sync import airtable_config
from airtable_pg.sync.engine import SyncEngine


def test_cli_and_dagster_take_the_rate_limit_from_the_same_variables(monkeypatch):
    monkeypatch.setenv("AIRTABLE_PG_RATE_LIMIT", "2.5")
    monkeypatch.setenv("AIRTABLE_PG_PENALTY_SECONDS", "0")
    monkeypatch.setenv("AIRTABLE_PG_RATE_MARGIN_MS", "25")
    resource = airtable_resource_from_env()
    cli = airtable_config(
        {
            "AIRTABLE_API_KEY": "patX",
            "AIRTABLE_PG_RATE_LIMIT": "2.5",
            "AIRTABLE_PG_PENALTY_SECONDS": "0",
            "AIRTABLE_PG_RATE_MARGIN_MS": "25",
        }
    )
    assert (resource.requests_per_second, resource.penalty_seconds) == (2.5, 0.0)
    assert resource.client_config().rate_margin_seconds == pytest.approx(0.025)
    assert (cli.requests_per_second, cli.penalty_seconds) == (2.5, 0.0)
    # the engine paces requests with exactly that spacing
    with SyncEngine(load_spec(), "postgresql://nobody@/unused", cli, workers=1) as engine:
        assert engine.limiter.spacing == pytest.approx(1 / 2.5 + 0.025)


@pytest.mark.parametrize("value", ["fast", "0", "-1"])
def test_a_bad_rate_limit_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("AIRTABLE_PG_RATE_LIMIT", value)
    with pytest.raises(ConfigError, match="AIRTABLE_PG_RATE_LIMIT"):
        airtable_resource_from_env()
