"""Uploading an attachment's bytes: ``POST v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment``.

Airtable serves this endpoint on another host, ``content.airtable.com``; the sandbox serves it on its own address,
beside the records API, under the same token and the same per-base rate limit. pyairtable's
``Table.upload_attachment`` replaces the host of its ``endpoint_url`` with ``content.airtable.com`` whatever that
URL is, so a client pointed at the sandbox must send that host back to it (``content_host.send_content_host_to``).

The body is ``{"contentType", "file" (base64), "filename"}``, at most 5 MB of file. The answer is the record's id,
its ``createdTime`` and ``fields`` holding the attachment cell alone, keyed by field id, the new attachment last
(Airtable's documented example; whether it ever returns more of the record is not documented). The bytes are
served back at the attachment's signed URL (``attachments.py``). Airtable makes thumbnails for uploaded images
later, in the background; the sandbox makes none for an upload.
"""

from __future__ import annotations

import base64
import binascii

from airtable_sandbox.attachments import MAX_UPLOAD_BYTES
from airtable_sandbox.http import INVALID_REQUEST, ApiError, Request, Response, Route
from airtable_sandbox.store import API_ACTOR, Store
from airtable_sandbox.store.cells import new_id

UPLOAD_BODY_KEYS = frozenset({"contentType", "file", "filename"})

# Airtable documents a 413 for a request too large without naming its type: this one is the sandbox's choice.
TOO_LARGE = ApiError(
    413,
    "ATTACHMENT_TOO_LARGE",
    f"The uploaded file is larger than {MAX_UPLOAD_BYTES:,} bytes (5 MB); add a larger file by its URL instead",
)


class UploadApi:
    def __init__(self, store: Store) -> None:
        self._store = store

    def routes(self) -> list[Route]:
        return [Route("POST", "v0/:base_id/:record_id/:field/uploadAttachment", self._upload)]

    def _upload(self, request: Request, params: dict[str, str]) -> Response:
        content_type, filename, content = _upload_body(request)
        attachment = {"id": new_id("att"), "url": "", "filename": filename, "size": len(content), "type": content_type}
        signer = self._store.attachments
        if signer is not None:
            signer.keep_upload(attachment["id"], content)
        try:
            added = self._store.add_attachment(
                params["base_id"], params["record_id"], params["field"], attachment, actor=API_ACTOR
            )
        except Exception:
            if signer is not None:
                signer.forget_upload(attachment["id"])
            raise
        record = added.record
        cell = record["fields"].get(added.field_id, [])
        if signer is not None:
            cell = signer.sign_cell(cell)  # URLs valid ~2 h from now, as every read's
        body = {"id": record["id"], "createdTime": record["createdTime"], "fields": {added.field_id: cell}}
        return Response(200, body)


def _upload_body(request: Request) -> tuple[str, str, bytes]:
    """``(contentType, filename, file bytes)``; 422 for a body Airtable would refuse, 413 above 5 MB."""
    body = request.json()
    if not isinstance(body, dict) or set(body) - UPLOAD_BODY_KEYS:
        raise INVALID_REQUEST
    content_type, filename, encoded = body.get("contentType"), body.get("filename"), body.get("file")
    if not all(isinstance(value, str) and value for value in (content_type, filename)) or not isinstance(encoded, str):
        raise INVALID_REQUEST
    # Quick refusal before decoding: base64 holds 3 bytes in every 4 characters (pyairtable adds a newline per 76).
    if (len(encoded) - encoded.count("\n")) * 3 // 4 > MAX_UPLOAD_BYTES + 2:
        raise TOO_LARGE
    try:
        content = base64.b64decode(encoded.replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise INVALID_REQUEST from None
    if len(content) > MAX_UPLOAD_BYTES:
        raise TOO_LARGE
    return content_type, filename, content
