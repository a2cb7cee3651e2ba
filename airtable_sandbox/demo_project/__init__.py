"""The demo project: the spec of the sandbox's demo base and its mirror tables' revisions.

They ship with the sandbox (not in the checkout's root) because they describe the sandbox's demo base, and an
installed wheel must still run ``airtable-pg dev`` on them with nothing set. A project of your own keeps its spec and
its revisions in its own repository (``AIRTABLE_PG_SPEC``, ``AIRTABLE_PG_MIGRATIONS``).
"""

from pathlib import Path

DEMO_PROJECT = Path(__file__).resolve().parent
DEMO_SPEC = DEMO_PROJECT / "spec.yaml"
DEMO_MIGRATIONS = DEMO_PROJECT / "migrations"
