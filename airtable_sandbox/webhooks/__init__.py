"""The sandbox's webhooks: Airtable's webhooks API, change payloads and notification pings (API.md §6).

Routes, all under ``v0/bases/:base_id/webhooks``:

- ``POST   …/webhooks``                                  create → ``{"id", "macSecretBase64", "expirationTime"}``
- ``GET    …/webhooks``                                  list → ``{"webhooks": [...]}``
- ``DELETE …/webhooks/:webhook_id``                      delete → ``{}``
- ``POST   …/webhooks/:webhook_id/refresh``              → ``{"expirationTime"}`` (active hooks only)
- ``POST   …/webhooks/:webhook_id/enableNotifications``  body ``{"enable": bool}`` → ``{}``
- ``GET    …/webhooks/:webhook_id/payloads?cursor=&limit=``  → ``{"cursor", "mightHaveMore", "payloads"}``

Payloads are built synchronously in ``on_transaction`` (in-memory work only) so that a client which
lists payloads right after its own write sees them, as the sync engine's tests expect. Pings go out
from one background thread, never from the store's listener call: a slow receiver must not slow writes.

Every duration (expiry, retention, retry backoff) is measured on the sandbox ``Clock`` so tests can
jump a week ahead. Values the docs leave open are chosen here and marked "sandbox choice".
"""

from airtable_sandbox.webhooks.delivery import content_mac, notification_body
from airtable_sandbox.webhooks.payloads import build_payloads
from airtable_sandbox.webhooks.service import WebhookService
from airtable_sandbox.webhooks.specification import HookSpec, parse_specification

__all__ = ["HookSpec", "WebhookService", "build_payloads", "content_mac", "notification_body", "parse_specification"]
