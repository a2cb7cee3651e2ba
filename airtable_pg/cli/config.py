"""``airtable-pg config [--markdown]``: the settings in effect and where each came from (secrets masked), or the
README's table of them.

Each line: variable, the value in effect, its source: ``environment`` (set there), ``dev stack`` (filled in from a
running ``airtable-pg dev``'s ``dev.json``) or ``default`` — and for a default, what it resolves to here (the demo
spec's path, the embedded server's data directory, ``dagster_home/``), not just ``(not set)``.
"""

from __future__ import annotations

import argparse
import os

from pydantic import SecretStr

from airtable_pg.cli.output import EXIT_OK, command, command_settings
from airtable_pg.cli.parsing import command_parser
from airtable_pg.postgres.database import redact
from airtable_pg.settings import _DEV_STACK_KEYS, Settings, configuration_table, env_name


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("airtable-pg config", "Show the settings in effect, and where each came from.")
    parser.add_argument("--markdown", action="store_true", help="print the configuration table of the README")
    return parser


@command("config")
def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.markdown:
        print(configuration_table())
        return EXIT_OK
    settings = command_settings("config")
    fields = {name: info for name, info in type(settings).model_fields.items() if env_name(info) is not None}
    width = max(len(env_name(info) or "") for info in fields.values())
    from_stack = {variable for variable in _DEV_STACK_KEYS.values() if settings.dev_stack and not _set(variable)}
    for name, info in fields.items():
        variable = env_name(info) or name
        value = getattr(settings, name)
        if _set(variable):
            source = "environment"
        elif variable in from_stack and value is not None:
            source = f"dev stack ({settings.dev_stack})"
        else:
            source = "default"
        shown = _shown(value) if value is not None else in_effect(variable, settings)
        print(f"{variable:<{width}}  {shown}  [{source}]")
    return EXIT_OK


def _set(variable: str) -> bool:
    return bool(os.environ.get(variable, "").strip())


def _shown(value: object) -> str:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        # Database URLs show where they point, password masked; anything else secret is masked whole.
        return redact(secret) if "://" in secret else "**********"
    return str(value)


def in_effect(variable: str, settings: Settings) -> str:
    """What an unset variable resolves to, as every command resolves it."""
    if variable == "AIRTABLE_PG_SPEC":
        from airtable_pg.spec import default_spec_path

        return f"{default_spec_path()} (the demo spec)"
    if variable == "AIRTABLE_PG_MIGRATIONS":
        if settings.spec_path is not None:
            return "(not set: required with a spec of your own, for `db revision` and `db upgrade`)"
        from airtable_pg.postgres.migrate import DEMO_VERSIONS

        return f"{DEMO_VERSIONS} (the demo's; `db revision` refuses to write there)"
    if variable == "DATABASE_URL":
        return f"embedded server, data in {(settings.home / 'pgdata').resolve()} (started on first use)"
    if variable == "DATABASE_MIGRATION_URL":
        return "DATABASE_URL's database"
    if variable == "DAGSTER_HOME":
        return _dagster_home()
    if variable == "DAGSTER_PG_URL":
        if settings.dev_stack and settings.database_url is not None:
            from airtable_pg.cli.dev import dagster_storage_url

            url = dagster_storage_url(settings.database_url.get_secret_value())
            return f"{redact(url)} (as `airtable-pg dev` sets it)"
        return "(not set: `airtable-pg dev` sets it for its children; elsewhere Dagster needs it)"
    if variable == "AIRTABLE_API_KEY":
        return "(not set: commands that reach Airtable refuse; `make dev` gives its sandbox's token to its commands)"
    default = (Settings.model_fields[_field_of(variable)].json_schema_extra or {}).get("default_text")
    if not isinstance(default, str) or default == "none":
        return "(not set)"
    if default.startswith("`") and default.endswith("`"):  # another variable's value, e.g. `DATABASE_URL_STAGING`
        return f"(not set: the value of {default.strip('`')})"
    return f"(not set: {default.removeprefix('none: ').removeprefix('none (').removesuffix(')')})"


def _field_of(variable: str) -> str:
    return next(name for name, info in Settings.model_fields.items() if env_name(info) == variable)


def _dagster_home() -> str:
    from airtable_pg.cli.dev import DevError, project_root

    try:
        return f"{project_root() / 'dagster_home'} (the checkout's, as `airtable-pg dev` uses it)"
    except DevError:
        return "(not set: Dagster needs it outside the checkout)"
