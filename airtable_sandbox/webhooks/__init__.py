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

The layout, from the ground up; a module imports only from the lines above it:

* ``specification`` (what a hook asks for), ``store_reads`` (what the webhooks read from the record store, which
  they never import: the store publishes to them) and ``hooks`` (one hook: payloads, expiry, pending ping);
* ``cells``, ``schema_changes`` and ``payloads``: a transaction turned into a hook's payload bodies;
* ``state``: ``WebhooksState``, every base's hooks under one lock, with the ping settings. The routes, the
  recording of payloads and the ping thread each take it, and nothing of each other;
* ``api`` (the routes) and ``delivery`` (the ping thread);
* ``service``: ``WebhookService``, the one door, which builds them and records each transaction's payloads.
"""

from airtable_sandbox.webhooks.delivery import content_mac, notification_body
from airtable_sandbox.webhooks.payloads import build_payloads
from airtable_sandbox.webhooks.service import WebhookService
from airtable_sandbox.webhooks.specification import HookSpec, parse_specification

__all__ = ["HookSpec", "WebhookService", "build_payloads", "content_mac", "notification_body", "parse_specification"]
