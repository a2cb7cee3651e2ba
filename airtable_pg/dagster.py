"""airtable_pg in your own Dagster project: ``build_defs(spec=…, prefix=…, migrations=…)`` or the Component.

Importing this module reads no setting and no spec; each call builds one instance's definitions from the spec
it is given. See the README's "Use it in your own Dagster project".
"""

from typing import Any

from airtable_pg.defs.build import build_defs
from airtable_pg.defs.instance_config import instance_problems
from airtable_pg.defs.resources import AirtablePgResource

__all__ = ["AirtablePgResource", "build_defs", "instance_problems"]
_LAZY = ("AirtablePgComponent",)  # in dir(): `dg` lists a module's components by dir() and getattr()


def __getattr__(name: str) -> Any:
    # The Component imports dagster.components (~0.8 s): loaded only when asked for (by `dg` or a defs.yaml),
    # not by every run worker and step process that loads a code location calling build_defs.
    if name == "AirtablePgComponent":
        from airtable_pg.defs.component import AirtablePgComponent

        return AirtablePgComponent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_LAZY])
