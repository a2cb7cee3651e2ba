"""The store's state: its bases, its collaborators, its listeners, its clock and its settings.

Every module of the store that reads or changes records takes this one object and nothing else of the store,
so the modules depend downward on it and never on each other's private members. It holds no rule of Airtable's:
those live in the modules above it (writes, schema, listing, …).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airtable_sandbox.clock import Clock
from airtable_sandbox.events import Transaction
from airtable_sandbox.http import ApiError
from airtable_sandbox.store.tables import Base
from airtable_sandbox.store.users import Collaborators

if TYPE_CHECKING:
    from airtable_sandbox.attachments import AttachmentContent

log = logging.getLogger(__name__)

Listener = Callable[[Transaction], None]


class StoreState:
    """The bases of the sandbox and what every change needs beside them."""

    def __init__(self, clock: Clock | None = None, *, report_lookup_changes_in_other_records: bool = False) -> None:
        self.clock = clock or Clock()
        # Signs attachment URLs on every read (attachments.py); none: cells keep the URLs they were stored with.
        self.attachments: AttachmentContent | None = None
        # Whether a write reports the records whose lookups, rollups or counts it changed, besides the records it
        # wrote and their inverse links. Airtable does not document it; off by default (see docs/sandbox.md).
        self.report_lookup_changes_in_other_records = report_lookup_changes_in_other_records
        self.collaborators = Collaborators()
        self._bases: dict[str, Base] = {}
        self._bases_lock = threading.Lock()  # adding a base; each base has its own lock for its tables and records
        self._listeners: list[Listener] = []

    # -- bases -----------------------------------------------------------------------------------------

    def add_base(self, base_id: str, name: str, tables: list[dict[str, Any]]) -> None:
        """Create a base from tables in metadata-API format (``_sandbox`` private keys allowed)."""
        base = Base(base_id, name, copy.deepcopy(tables))
        with self._bases_lock:
            if base_id in self._bases:
                raise ValueError(f"base {base_id} already exists")
            self._bases[base_id] = base

    def has_base(self, base_id: str) -> bool:
        return base_id in self._bases

    def base_ids(self) -> list[str]:
        return list(self._bases)

    def base(self, base_id: str) -> Base:
        """The base, or Airtable's bare 404 for an unknown base id."""
        base = self._bases.get(base_id)
        if base is None:
            raise ApiError(404, "NOT_FOUND", bare=True)
        return base

    def find_base(self, base_id: str) -> Base | None:
        return self._bases.get(base_id)

    # -- listeners -------------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, transaction: Transaction) -> None:
        """Hand a committed transaction to every listener; the caller holds the base's lock (so they come in order)."""
        for listener in list(self._listeners):
            try:
                listener(transaction)
            except Exception:  # a listener's bug must never undo or fail a committed write
                log.exception("store listener %r failed on transaction %s", listener, transaction.timestamp)
