"""Per-entity backend flags: where an entity's reads are served from during a cutover.

Modes, in the order a cutover takes them: ``airtable`` (served by Airtable; the default, and what any failure falls
back to), ``shadow`` (served by Airtable, Postgres answers compared off the request path) and ``postgres_primary``
(served from the mirror). Writes follow the data authority matrix whatever the mode.

The flags live in Postgres (``airtable_sync.backend_flag``), every change with an audit row (who, when, from, to,
why), so every process sees the same switch and a restarted one resumes it. A process re-reads them at most every
``ttl_seconds`` (half a second): a flip reaches every API process within a second, without a restart.

``DATA_BACKEND_<ENTITY>`` in a process's environment pins one entity's mode there, as an emergency override that
needs no database (``DATA_BACKEND_USERS=airtable``; ``DATA_BACKEND_<BASE>__<TABLE>`` when two bases share a table
name; it wins over the shorter one). A pin wins over the stored flag, and every view of the flags says so. A pin
that is not a mode is reported, and the entity falls back to ``airtable``.
"""

from __future__ import annotations

import getpass
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg
import sqlalchemy as sa

from airtable_pg.postgres.backend_flags import StoredFlag, stored_flags, write_flag
from airtable_pg.postgres.schema import BACKEND_MODES
from airtable_pg.postgres.transaction import transaction
from airtable_pg.spec import BaseSpec, SyncSpec, TableSpec

AIRTABLE, SHADOW, POSTGRES_PRIMARY = BACKEND_MODES
PIN_PREFIX = "DATA_BACKEND_"


class FlagError(ValueError):
    """A flag change refused: the message says why and what to do instead."""


@dataclass(frozen=True)
class EntityFlag:
    entity: str  # base.table, the spec's keys
    mode: str  # what this process serves from
    stored: str  # the mode in Postgres (airtable when never set)
    since: datetime | None  # when the stored mode was set
    updated_by: str | None
    reason: str | None
    version: int  # the stored row's version (0: never set)
    pinned_by: str | None  # the environment variable that overrides the stored mode here
    pin_problem: str | None = None  # a pin that is not a mode (the entity then falls back to airtable)

    @property
    def pinned(self) -> bool:
        return self.pinned_by is not None


def entity_key(base: BaseSpec, table: TableSpec) -> str:
    return f"{base.key}.{table.key}"


def pin_variables(base: BaseSpec, table: TableSpec) -> tuple[str, str]:
    """The two environment variables that can pin an entity, the more specific first."""
    return (
        PIN_PREFIX + _env_part(base.key) + "__" + _env_part(table.key),
        PIN_PREFIX + _env_part(table.key),
    )


def _env_part(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def resolve(base: BaseSpec, table: TableSpec, stored: StoredFlag | None, environ: Mapping[str, str]) -> EntityFlag:
    """One entity's mode in this process: its pin if the environment has one, else the stored flag."""
    pinned_by = next((name for name in pin_variables(base, table) if environ.get(name, "").strip()), None)
    stored_mode = stored.mode if stored else AIRTABLE
    mode, problem = stored_mode, None
    if pinned_by is not None:
        value = environ[pinned_by].strip().lower()
        if value in BACKEND_MODES:
            mode = value
        else:
            mode, problem = AIRTABLE, f"{pinned_by}={environ[pinned_by]!r} is not one of {', '.join(BACKEND_MODES)}"
    return EntityFlag(
        entity=entity_key(base, table),
        mode=mode,
        stored=stored_mode,
        since=stored.updated_at if stored else None,
        updated_by=stored.updated_by if stored else None,
        reason=stored.reason if stored else None,
        version=stored.version if stored else 0,
        pinned_by=pinned_by,
        pin_problem=problem,
    )


class BackendFlags:
    """Every entity's flag for one spec, read from Postgres at most every ``ttl_seconds``; thread-safe."""

    def __init__(
        self,
        db: sa.Engine,
        spec: SyncSpec,
        *,
        environ: Mapping[str, str] | None = None,
        ttl_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db, self.spec, self.ttl_seconds, self._clock = db, spec, ttl_seconds, clock
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._stored: dict[str, StoredFlag] = {}
        self._read_at: float | None = None

    def entity(self, name: str) -> tuple[BaseSpec, TableSpec]:
        """``base.table``, a table key, mirror name or Airtable id/name (KeyError naming the known ones otherwise)."""
        return self.spec.find_table(name)

    def all(self) -> list[EntityFlag]:
        stored = self._fresh()
        return [resolve(b, t, stored.get(entity_key(b, t)), self._environ) for b, t in self.spec.tables()]

    def flag(self, name: str) -> EntityFlag:
        base, table = self.entity(name)
        return resolve(base, table, self._fresh().get(entity_key(base, table)), self._environ)

    def mode(self, name: str) -> str:
        """Where to serve this entity's reads from, now. Any failure to read the flags answers ``airtable``."""
        try:
            return self.flag(name).mode
        except (sa.exc.SQLAlchemyError, psycopg.Error):
            return AIRTABLE  # fail safe: Airtable still holds every record

    def set(
        self,
        name: str,
        mode: str,
        *,
        reason: str,
        actor: str | None = None,
        source: str = "cli",
        force: bool = False,
        gated: bool = False,
    ) -> tuple[str, EntityFlag]:
        """Store a new mode with its audit row; returns the mode it replaced and the entity's flag now.

        ``postgres_primary`` is the cutover's to set (``gated``: it checked the gates first); otherwise only with
        ``force``, which the audit row records."""
        if mode not in BACKEND_MODES:
            raise FlagError(f"mode must be one of {', '.join(BACKEND_MODES)}, not {mode!r}")
        if not reason.strip():
            raise FlagError("say why (--reason): the audit trail keeps it")
        base, table = self.entity(name)
        if mode == POSTGRES_PRIMARY and not (force or gated):
            key = entity_key(base, table)
            raise FlagError(
                f"{key}: postgres_primary is set by `airtable-pg cutover {key}`, which checks every gate first "
                "(or --force, recorded in the audit trail)"
            )
        with transaction(self.db) as cur:
            previous, stored = write_flag(
                cur,
                entity=entity_key(base, table),
                base_id=base.id,
                table_id=table.id,
                mode=mode,
                actor=actor or _actor(),
                reason=reason.strip(),
                source=source,
                forced=force,
            )
        with self._lock:
            self._read_at = None  # this process sees its own change at once
        return previous, resolve(base, table, stored, self._environ)

    def mode_if_fresh(self, name: str) -> str | None:
        """The mode from flags read less than ``ttl_seconds`` ago, else ``None``: never touches the database nor
        waits for a reader that does (an event loop may ask)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._read_at is None or self._clock() - self._read_at >= self.ttl_seconds:
                return None
            stored = self._stored
        finally:
            self._lock.release()
        base, table = self.entity(name)
        return resolve(base, table, stored.get(entity_key(base, table)), self._environ).mode

    def _fresh(self) -> dict[str, StoredFlag]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self.ttl_seconds:
                with transaction(self.db) as cur:
                    self._stored = stored_flags(cur)
                self._read_at = now
            return self._stored


def _actor() -> str:
    """Who changed a flag: the OS user (an API or a Dagster run names itself through ``actor``)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
