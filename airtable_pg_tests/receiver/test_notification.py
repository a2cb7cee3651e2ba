"""The ping's MAC rule against Airtable's test vectors and pyairtable's own check; parsing refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

import pytest
from pyairtable.models.webhook import WebhookNotification

from airtable_pg.receiver.notification import Rejection, mac_matches, parse_notification

# /work/shared/airtable/API.md §6.4: key base64 "c2VjcmV0LWtleQ==" (bytes "secret-key").
VECTOR_SECRET = "c2VjcmV0LWtleQ=="
VECTOR_BODY = (
    b'{"base":{"id":"app00000000000000"},"webhook":{"id":"ach00000000000000"},"timestamp":"2022-02-01T21:25:05.663Z"}'
)
VECTOR_MAC = "hmac-sha256=6486781ffbbd5e9ed3bd9137d539ab9dceec8dba7c65c6cbf3c8c3ceefbf8802"
SPACED_BODY = json.dumps(json.loads(VECTOR_BODY)).encode()
SPACED_MAC = "hmac-sha256=e26da696a90933647bddc83995c3e1e3bb1c3d8ce1ff61cb7469767d50b2b2d4"  # pyairtable's test


def test_airtable_test_vectors_verify() -> None:
    assert mac_matches(VECTOR_SECRET, VECTOR_BODY, VECTOR_MAC)
    assert mac_matches(VECTOR_SECRET, SPACED_BODY, SPACED_MAC)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (VECTOR_SECRET, SPACED_BODY, VECTOR_MAC),  # same JSON, other bytes: the MAC is over the raw body
        (base64.b64encode(b"another-key").decode(), VECTOR_BODY, VECTOR_MAC),
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_MAC.upper()),
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_MAC.removeprefix("hmac-sha256=")),
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_MAC[:-1]),
        (VECTOR_SECRET, VECTOR_BODY, VECTOR_MAC + " "),
        (VECTOR_SECRET, VECTOR_BODY, "hmac-sha256=é"),  # non-ASCII header: refused, not a TypeError
        (VECTOR_SECRET, VECTOR_BODY, ""),
        ("not base64!", VECTOR_BODY, VECTOR_MAC),
    ],
)
def test_anything_else_does_not_verify(secret: str, body: bytes, header: str) -> None:
    assert not mac_matches(secret, body, header)


def test_agrees_with_pyairtable_on_a_random_secret() -> None:
    secret = base64.b64encode(os.urandom(32)).decode()
    body = json.dumps({"base": {"id": "appX"}, "webhook": {"id": "achY"}, "timestamp": "2026-01-01T00:00:00.000Z"})
    good = "hmac-sha256=" + hmac.new(base64.b64decode(secret), body.encode(), hashlib.sha256).hexdigest()
    WebhookNotification.from_request(body, good, secret)  # pyairtable accepts it…
    assert mac_matches(secret, body.encode(), good)  # …and so do we
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValueError):
        WebhookNotification.from_request(body, bad, secret)
    assert not mac_matches(secret, body.encode(), bad)


def test_parse_returns_the_ids_and_the_whole_body() -> None:
    notification = parse_notification(VECTOR_BODY)
    assert (notification.webhook_id, notification.base_id) == ("ach00000000000000", "app00000000000000")
    assert notification.body == json.loads(VECTOR_BODY)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"", "body is not JSON"),
        (b"[1, 2]", "body is not a JSON object"),
        (b'{"base": {"id": "app1"}}', "body has no webhook.id"),
        (b'{"base": {"id": "app1"}, "webhook": "ach1"}', "body has no webhook.id"),
        (b'{"base": {"id": "app1"}, "webhook": {"id": 7}}', "body has no webhook.id"),
        (b'{"webhook": {"id": "ach1"}}', "body has no base.id"),
        (b'{"webhook": {"id": "ach1"}, "base": {"id": ""}}', "body has no base.id"),
    ],
)
def test_parse_refuses_with_400(raw: bytes, reason: str) -> None:
    with pytest.raises(Rejection) as refused:
        parse_notification(raw)
    assert (refused.value.status, refused.value.reason) == (400, reason)
