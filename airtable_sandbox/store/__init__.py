"""The sandbox's record store: bases → tables → records, with Airtable's cell rules.

Design choices that matter:

* **Compact storage.** A million records must fit in well under 2 GiB, so a record is a ``__slots__``
  object holding its id, two float timestamps and its *stored* cells as one compact JSON array (UTF-8
  bytes) aligned to the table's list of stored fields. Cells are decoded only when a record is read.
* **Computed fields at read time.** Formula, lookup, rollup, count, created/last-modified time are
  derived when a record is read (:class:`RecordView`), so they are always consistent and cost no memory.
  Values that Airtable assigns once and keeps (autoNumber, createdBy, lastModifiedBy, and a
  lastModifiedTime limited to some fields) are stored like ordinary cells but are read-only.
* **Two-way links.** Writing a link field also updates the inverse field of the linked records; that is a
  change of those records too (their lastModifiedTime moves and they appear in the transaction).
* **Listing iterators.** Resuming a listing from an ``offset`` is O(page): the iterator (its candidate id
  list, its filter scan position, the sorted id list when ``sort`` is given) lives server-side under the
  ``itr…/rec…`` offset and expires after 10 minutes of inactivity, like Airtable's.
* **One lock per base.** The HTTP server is threaded; every read or write of a base holds its ``RLock``.
  Listeners run under that lock right after a change is applied, so transactions reach them in
  ``base_transaction_number`` order; they must return fast. The webhooks service builds its payloads
  in memory inside the listener call (so a client listing payloads right after its write sees them)
  and only marks a ping as due: pings go out from the service's own delivery thread.

Errors are raised as :class:`~airtable_sandbox.http.ApiError` with Airtable's types and messages,
because the store is where Airtable's validation rules live.

The layout, from the ground up; a module imports only from the lines above it, so none reaches into another's
private members and each can be read with the ones below it alone:

* ``cells`` (field types and the rules for their values) and ``users`` (actors, the collaborators directory);
* ``tables``: ``Record``, ``Table``, ``Base``, the stored data itself;
* ``state``: ``StoreState``, the bases with their collaborators, listeners, clock and settings. Every module that
  reads or changes records takes it, and nothing else of the store;
* ``record_view`` (reading a record, computed cells included), ``cell_writer`` (validating written cells) and
  ``change`` (one call's change, as data);
* ``assigned`` and ``links``: the rules a change obeys as it is applied (assigned values, two-way links);
* ``transactions``: applying a change and publishing it as one transaction;
* the jobs: ``reads``, ``listing`` (with its own live iterators), ``writes``, ``schema``, ``seeding``;
* ``store``: ``Store``, the one door, which hands each call to the job's module and decides nothing itself.
"""

from airtable_sandbox.store.listing import ITERATOR_IDLE_SECONDS, RecordPage
from airtable_sandbox.store.seeding import SeedRecord
from airtable_sandbox.store.store import Store
from airtable_sandbox.store.tables import NOT_FOUND_MESSAGE
from airtable_sandbox.store.users import API_ACTOR, API_USER, UI_ACTOR, UI_USER, Actor
from airtable_sandbox.store.writes import AddedAttachment, UpsertResult

__all__ = [
    "API_ACTOR",
    "API_USER",
    "ITERATOR_IDLE_SECONDS",
    "NOT_FOUND_MESSAGE",
    "UI_ACTOR",
    "UI_USER",
    "Actor",
    "AddedAttachment",
    "RecordPage",
    "SeedRecord",
    "Store",
    "UpsertResult",
]
