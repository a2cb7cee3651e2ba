"""Who makes a change and who a collaborator cell names: the sandbox's users, as actors and as collaborators."""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airtable_sandbox.events import SOURCES, SOURCES_WITH_USER

API_USER: dict[str, str] = {"id": "usrSandboxApi0001", "email": "api@sandbox.local", "name": "Sandbox API"}
UI_USER: dict[str, str] = {"id": "usrSandboxUi00001", "email": "staff@sandbox.local", "name": "Sandbox Staff"}

# The one ``sourceMetadata`` key each of these sources carries (API.md §6.6); the others carry none.
SOURCE_METADATA_KEYS = {"formSubmission": "viewId", "formPageSubmission": "pageId", "automation": "automationId"}
_METADATA_ID_PREFIXES = {"viewId": "viw", "pageId": "pag", "automationId": "aut"}


@dataclass(frozen=True)
class Actor:
    """Who makes a change: ``publicApi`` (a token's user), ``client`` (a person in the UI), or another source.

    ``user`` still stamps ``createdBy``/``lastModifiedBy`` for sources without a user in the payload (a form or an
    automation acts inside the base on someone's behalf; which user Airtable shows there is the sandbox's choice).
    """

    source: str
    user: dict[str, str]
    source_metadata: dict[str, Any] | None = field(default=None)

    def transaction_user(self) -> dict[str, str] | None:
        if self.source not in SOURCES_WITH_USER:
            return None
        return {"id": self.user["id"], "email": self.user["email"], "permissionLevel": "create"}


API_ACTOR = Actor("publicApi", API_USER)
UI_ACTOR = Actor("client", UI_USER)


def actor_for_source(source: str, metadata: dict[str, Any] | None = None) -> Actor:
    """An admin-route actor for ``source``; a form or automation without ``metadata`` gets a made-up id.

    Raises ``ValueError`` for a source Airtable does not name, or metadata that does not fit the source.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}")
    key = SOURCE_METADATA_KEYS.get(source)
    if key is None:
        if metadata:
            raise ValueError(f"source {source!r} carries no sourceMetadata")
        return Actor(source, UI_USER)
    if metadata is None:
        suffix = "".join(random.choices(string.ascii_letters + string.digits, k=14))
        metadata = {key: _METADATA_ID_PREFIXES[key] + suffix}
    if set(metadata) != {key} or not isinstance(metadata[key], str):
        raise ValueError(f'sourceMetadata of {source!r} is {{"{key}": "…"}}')
    return Actor(source, UI_USER, dict(metadata))


class Collaborators:
    """The users a collaborator cell can name: the API and UI users, and everyone seeds or writes introduce.

    Cells store a collaborator's id only (compact, and a user renamed later reads with the new name); a read
    expands the id through this directory.
    """

    def __init__(self) -> None:
        self._users: dict[str, dict[str, str]] = {API_USER["id"]: dict(API_USER), UI_USER["id"]: dict(UI_USER)}

    def register(self, user: Mapping[str, Any]) -> None:
        if isinstance(user.get("id"), str):
            known = self._users.setdefault(user["id"], {"id": user["id"]})
            known.update({key: user[key] for key in ("email", "name") if isinstance(user.get(key), str)})

    def find(self, value: Any) -> dict[str, str] | None:
        """A collaborator written as ``{"id"}``, ``{"email"}`` or a bare id/email string."""
        if isinstance(value, str):
            value = {"email": value} if "@" in value else {"id": value}
        if not isinstance(value, dict):
            return None
        if isinstance(value.get("id"), str) and value["id"].startswith("usr"):
            self.register(value)
            return self._users[value["id"]]
        email = value.get("email")
        return next((user for user in self._users.values() if email and user.get("email") == email), None)

    def expand(self, stored: Any) -> Any:
        """Stored collaborator ids → collaborator dicts ``{"id","email","name"}``."""
        if stored is None:
            return None
        if isinstance(stored, list):
            return [dict(self._users.get(user_id, {"id": user_id})) for user_id in stored] or None
        return dict(self._users.get(stored, {"id": stored}))
