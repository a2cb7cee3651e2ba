"""Batched writes to Airtable for the outbox, and the idempotency-key field they rely on.

Creates and updates go out as one ``PATCH … performUpsert`` per batch of at most 10 records, merging on the
table's idempotency-key field (it holds the row's Postgres id). A PATCH is safe to resend, so the client's
retry after a lost answer (a timeout, a 504) updates the record the first attempt created instead of creating
a second one; a record we already know goes by its ``id``. Answers come back keyed by field id.
"""

from __future__ import annotations

from typing import Any

from pyairtable import Api

from airtable_pg.airtable.errors import AirtableNotFound, airtable_errors
from airtable_pg.airtable.meta import fetch_tables

MAX_BATCH = 10  # Airtable's cap on records per write request
KEY_FIELD_DESCRIPTION = "airtable_pg: the Postgres id of a record created from Postgres (do not edit)"


def ensure_key_field(
    api: Api, base_id: str, table_id: str, name: str, tables: list[dict[str, Any]] | None = None
) -> str:
    """The id of the table's idempotency-key field ``name``, created (single line text) if Airtable lacks it.

    Needs the token's ``schema.bases:write`` scope for the creation; ``tables`` is the base's metadata if the
    caller has it already.
    """
    for table in tables if tables is not None else fetch_tables(api, base_id):
        if table["id"] == table_id:
            for field in table.get("fields") or ():
                if field["name"] == name:
                    return field["id"]
    with airtable_errors():
        created = api.post(
            api.build_url(f"meta/bases/{base_id}/tables/{table_id}/fields"),
            json={"name": name, "type": "singleLineText", "description": KEY_FIELD_DESCRIPTION},
        )
    return created["id"]


def upsert_records(
    api: Api, base_id: str, table_id: str, records: list[dict[str, Any]], key_field_id: str, *, typecast: bool
) -> list[dict[str, Any]]:
    """Create or update ``records`` (``{"fields"}``, plus ``"id"`` when known) in one request; Airtable's records,
    in the order sent, keyed by field id."""
    if not 1 <= len(records) <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} records, got {len(records)}")
    with airtable_errors():
        answer = api.table(base_id, table_id).batch_upsert(
            records, key_fields=[key_field_id], typecast=typecast, use_field_ids=True
        )
    return list(answer["records"])


def delete_records(api: Api, base_id: str, table_id: str, record_ids: list[str]) -> None:
    """Delete these records; one already gone counts as deleted (a resent delete must not fail)."""
    table = api.table(base_id, table_id)
    try:
        with airtable_errors():
            table.batch_delete(record_ids)
        return
    except AirtableNotFound:
        if len(record_ids) == 1:
            return
    for record_id in record_ids:  # one of them is gone already: delete the others one by one
        try:  # as a batch of one: Airtable answers a missing record with 404 there (403 on the single route)
            with airtable_errors():
                table.batch_delete([record_id])
        except AirtableNotFound:
            continue


def find_by_key(api: Api, base_id: str, table_id: str, key_field_id: str, key: str) -> str | None:
    """The id of the record whose idempotency key is ``key`` (a create whose answer was lost), if any."""
    from pyairtable.formulas import EQ, Field, to_formula_str

    # Formulas name fields, not ids: look the key field's name up in the answer of one record read.
    with airtable_errors():
        table = api.table(base_id, table_id)
        name = next(
            (f.name for f in table.schema().fields if f.id == key_field_id),
            None,
        )
        if name is None:
            return None
        found = table.first(formula=to_formula_str(EQ(Field(name), key)))
    return found["id"] if found else None
