"""``create_app()``: the API app each uvicorn worker process builds for itself (``airtable-pg api --workers N``)."""

from __future__ import annotations

from starlette.applications import Starlette


def create_app() -> Starlette:
    from airtable_pg.cli.output import runtime_database
    from airtable_pg.runtime import Runtime
    from airtable_pg.settings import load_settings

    settings = load_settings()
    return Runtime.from_settings(settings, database_url=runtime_database("api", settings)).api_app()
