"""Cutover routing: per-entity backend flags (``flags``), and the helper apps that read Postgres directly use."""

from __future__ import annotations

from airtable_pg.routing.flags import AIRTABLE, POSTGRES_PRIMARY, SHADOW, BackendFlags, EntityFlag, FlagError
from airtable_pg.routing.helper import backend_for

__all__ = ["AIRTABLE", "POSTGRES_PRIMARY", "SHADOW", "BackendFlags", "EntityFlag", "FlagError", "backend_for"]
