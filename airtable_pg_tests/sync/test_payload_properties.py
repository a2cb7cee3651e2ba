"""Property-based: whatever shape a webhook payload or a cell takes, the converter and the applier never crash.

Cells and payloads are drawn from arbitrary JSON (NUL bytes, emoji, huge numbers, nesting, wrong types) shaped
more or less like Airtable's. The converters always answer; the applier applies a payload or dead-letters it,
and the transaction it works in stays usable either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airtable_pg.airtable.cells import RecordConverter
from airtable_pg.airtable.escaping import unescape_cell
from airtable_pg.airtable.payload_cells import PayloadCells
from airtable_pg.spec import load_spec
from airtable_pg.sync.live import LiveSync
from airtable_pg.sync.webhook_applier import ApplyReport
from airtable_pg_tests.sync_helpers import airtable_config, make_sync_engine
from airtable_sandbox.server import Sandbox

SPEC = load_spec()
COACHING = SPEC.bases["coaching"]
TABLES = list(COACHING.tables.values())

texts = st.text(max_size=40) | st.sampled_from(["", "\x00", "a\x00b", "😀👩‍👩‍👧", "'; drop table x;--", "x" * 300])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=12
)
# Shapes Airtable uses for cells (records, selects, links, collaborators, errors), with arbitrary insides.
shaped_cells = (
    st.fixed_dictionaries({"id": texts, "name": texts}, optional={"color": texts})
    | st.lists(st.fixed_dictionaries({"id": texts}, optional={"name": json_values}), max_size=3)
    | st.fixed_dictionaries({}, optional={"error": texts, "specialValue": texts, "state": texts, "value": json_values})
    | st.lists(st.fixed_dictionaries({"linkedRecordId": texts, "valuesByLinkedRecordId": json_values}), max_size=2)
)
cell_values = json_values | shaped_cells


def field_ids(table) -> st.SearchStrategy[str]:
    return st.sampled_from(list(table.fields)) | st.sampled_from(["fldNotInSpec00001", "", "fld\x00"])


def cells_for(table) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(field_ids(table), cell_values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_converters_never_crash_and_keep_every_cell(data: st.DataObject) -> None:
    table = data.draw(st.sampled_from(TABLES))
    payload_cells = data.draw(cells_for(table))
    record_cells = PayloadCells(table).to_record_cells(payload_cells)
    assert set(record_cells) == set(payload_cells)
    fields = {key: value for key, value in record_cells.items() if value is not None}
    created = data.draw(st.none() | texts | st.sampled_from(["2026-12-01T10:00:00.000Z", "2026-13-45T99:00:00Z"]))
    row, errors = RecordConverter(table).row({"id": "recProperty000001", "createdTime": created, "fields": fields})
    assert set(row.fields) == set(fields)  # lossless: every cell kept (escaped when Postgres cannot hold it)
    assert set(row.columns) == {f.column for f in table.fields.values()} and errors >= 0


def as_floats(value: Any) -> Any:
    """``value`` with every number as a float: jsonb keeps numbers as decimals (3.6e16 comes back as an int)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [as_floats(item) for item in value]
    return {key: as_floats(item) for key, item in value.items()}


def record_ids(stored: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(stored) | st.sampled_from(["recFreshRecord0001", "recFreshRecord0002"]) | texts


def table_changes(table, stored: list[str]) -> st.SearchStrategy[Any]:
    cells = cells_for(table)
    cells_object = st.fixed_dictionaries({}, optional={"cellValuesByFieldId": cells | json_values})
    created = st.fixed_dictionaries(
        {}, optional={"createdTime": texts | json_values, "cellValuesByFieldId": cells | json_values}
    )
    changed = st.fixed_dictionaries(
        {}, optional={"current": cells_object, "unchanged": cells_object, "previous": json_values}
    )
    shaped = st.fixed_dictionaries(
        {},
        optional={
            "createdRecordsById": st.dictionaries(record_ids(stored), created | json_values, max_size=3) | json_values,
            "changedRecordsById": st.dictionaries(st.sampled_from(stored), changed | json_values, max_size=3)
            | json_values,
            "destroyedRecordIds": st.lists(record_ids(stored), max_size=3) | json_values,
            "createdFieldsById": st.dictionaries(texts, json_values, max_size=2) | json_values,
            "changedFieldsById": st.dictionaries(texts, json_values, max_size=2) | json_values,
            "destroyedFieldIds": st.lists(texts, max_size=2) | json_values,
            "changedMetadata": json_values,
        },
    )
    return shaped | json_values


def payloads(stored_by_table: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    by_table = st.one_of(
        *[
            st.dictionaries(st.just(table.id), table_changes(table, stored_by_table[table.id]), min_size=1)
            for table in TABLES
            if stored_by_table[table.id]
        ]
    )
    shaped = st.fixed_dictionaries(
        {"timestamp": st.sampled_from(["2026-12-01T10:00:00.000Z"]) | texts | json_values},
        optional={
            "changedTablesById": by_table | st.dictionaries(texts, json_values, max_size=2) | json_values,
            "createdTablesById": st.dictionaries(
                texts | st.sampled_from([t.id for t in TABLES]), json_values, max_size=2
            )
            | json_values,
            "destroyedTableIds": st.lists(texts, max_size=2) | json_values,
            "error": st.booleans(),
            "code": texts,
        },
    )
    return shaped | json_values


@pytest.fixture
def live(sandbox_factory, database_url: str) -> tuple[LiveSync, dict[str, list[str]]]:
    """A mirror after a full sync (changed records the mirror knows are merged, not re-read)."""
    sandbox: Sandbox = sandbox_factory(demo_records=8)
    with make_sync_engine(sandbox, database_url, workers=4) as engine:
        assert engine.sync_tables("full")
    live = LiveSync(SPEC, database_url, airtable_config(sandbox), workers=2)
    with live.db.connect() as conn:
        stored = {
            table.id: [
                row[0]
                for row in conn.exec_driver_sql(
                    f'select airtable_id from "{COACHING.schema}"."{table.mirror}" order by airtable_id limit 5'
                )
            ]
            for table in TABLES
        }
    return live, stored


def test_the_applier_applies_or_dead_letters_every_payload_shape(live) -> None:
    payload_strategy = payloads(live[1])
    applier = live[0].applier(COACHING)
    db = live[0].db

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(payload=payload_strategy)
    def check(payload: Any) -> None:
        raw = db.raw_connection()
        conn = raw.driver_connection
        try:
            with conn.cursor() as cur:
                cur.execute("select count(*) from airtable_sync.dead_letter")
                (before,) = cur.fetchone()
                report = ApplyReport("coaching")
                applier._apply_isolated(cur, COACHING, payload, report)  # never raises
                cur.execute("select count(*), max(id) from airtable_sync.dead_letter")
                after, last = cur.fetchone()
                assert after - before == report.dead_letters <= 1
                if report.dead_letters:  # kept whole (escaped when Postgres cannot hold it), with the reason
                    cur.execute("select payload, error from airtable_sync.dead_letter where id = %s", (last,))
                    kept, error = cur.fetchone()
                    assert as_floats(unescape_cell(kept)) == as_floats(payload) and error
        finally:
            conn.rollback()  # each example starts from the same mirror
            raw.close()

    check()
