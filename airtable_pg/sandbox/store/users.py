"""Who makes a change: the sandbox's API user and its UI user, as actors of transactions."""

from __future__ import annotations

from dataclasses import dataclass

API_USER: dict[str, str] = {"id": "usrSandboxApi0001", "email": "api@sandbox.local", "name": "Sandbox API"}
UI_USER: dict[str, str] = {"id": "usrSandboxUi00001", "email": "staff@sandbox.local", "name": "Sandbox Staff"}


@dataclass(frozen=True)
class Actor:
    """Who makes a change: ``publicApi`` (a token's user) or ``client`` (a person in the Airtable UI)."""

    source: str
    user: dict[str, str]

    def transaction_user(self) -> dict[str, str]:
        return {"id": self.user["id"], "email": self.user["email"], "permissionLevel": "create"}


API_ACTOR = Actor("publicApi", API_USER)
UI_ACTOR = Actor("client", UI_USER)
