"""airtable_pg in your own Dagster project: ``build_defs(spec=…, prefix=…, migrations=…)`` or the Component.

Importing this module reads no setting and no spec; each call builds one instance's definitions from the spec
it is given. See the README's "Use it in your own Dagster project".
"""

from airtable_pg.defs.build import build_defs
from airtable_pg.defs.component import AirtablePgComponent
from airtable_pg.defs.instance_config import instance_problems
from airtable_pg.defs.resources import AirtablePgResource

__all__ = ["AirtablePgComponent", "AirtablePgResource", "build_defs", "instance_problems"]
