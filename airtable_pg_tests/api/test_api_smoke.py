from airtable_pg_tests.api.conftest import Served
from airtable_sandbox.demo import DEMO_BASE_ID


def test_smoke(demo_served: Served) -> None:
    for table in demo_served.spec.bases["coaching"].tables.values():
        mirror = demo_served.mirror().table(DEMO_BASE_ID, table.airtable_name).all()
        airtable = demo_served.airtable().table(DEMO_BASE_ID, table.airtable_name).all()
        assert sorted(mirror, key=lambda r: r["id"]) == sorted(airtable, key=lambda r: r["id"]), table.key
