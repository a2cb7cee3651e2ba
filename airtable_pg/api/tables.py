"""Which mirror table and which fields a request names: tables by id or name, fields by name or id, from the spec.

The spec is the API's schema: it names each field as Airtable does (``spec pull`` refreshes the names). A cell in
a row's ``fields`` JSON whose field is not in the spec has no name the API can vouch for, so it is not served;
a request that names such a field gets Airtable's ``UNKNOWN_FIELD_NAME``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from airtable_pg.api.errors import model_not_found, not_found, unknown_field
from airtable_pg.spec import BaseSpec, FieldSpec, SyncSpec, TableSpec


@dataclass(frozen=True)
class ServedTable:
    base: BaseSpec
    table: TableSpec
    by_ref: dict[str, FieldSpec] = field(repr=False)  # field ids, then names (an id wins a clash, as in Airtable)
    names: dict[str, str] = field(repr=False)  # field id → name, for every field of the spec

    @classmethod
    def of(cls, base: BaseSpec, table: TableSpec) -> ServedTable:
        by_ref = {f.name: f for f in table.fields.values()}
        by_ref.update(table.fields)
        return cls(base, table, by_ref, {f.id: f.name for f in table.fields.values()})

    def field(self, ref: str) -> FieldSpec | None:
        return self.by_ref.get(ref)

    def field_ids(self, refs: Iterable[str]) -> list[str]:
        """The ids of the fields ``refs`` name, each once, in order; ``UNKNOWN_FIELD_NAME`` for the first unknown."""
        ids = []
        for ref in refs:
            spec = self.by_ref.get(ref)
            if spec is None:
                raise unknown_field(ref)
            ids.append(spec.id)
        return list(dict.fromkeys(ids))


class Catalog:
    """Every base and table of the spec, looked up as Airtable looks them up."""

    def __init__(self, spec: SyncSpec) -> None:
        self._bases = {base.id: base for base in spec.bases.values()}
        self._tables: dict[tuple[str, str], ServedTable] = {}
        for base in spec.bases.values():
            for table in base.tables.values():
                served = ServedTable.of(base, table)
                self._tables.setdefault((base.id, table.airtable_name), served)
            for table in base.tables.values():  # ids after names: an id always finds its own table
                self._tables[(base.id, table.id)] = ServedTable.of(base, table)

    def base(self, base_id: str) -> BaseSpec:
        """The base, or Airtable's bare 404 for a base it does not have."""
        base = self._bases.get(base_id)
        if base is None:
            raise not_found()
        return base

    def table(self, base_id: str, ref: str) -> ServedTable:
        """A table by id or name; Airtable answers 403 for a table a valid base does not have."""
        self.base(base_id)
        served = self._tables.get((base_id, ref))
        if served is None:
            raise model_not_found()
        return served

    def tables(self, base_id: str) -> list[ServedTable]:
        base = self.base(base_id)
        return [self._tables[(base_id, table.id)] for table in base.tables.values()]
