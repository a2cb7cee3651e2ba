"""One attachment's copy (and its thumbnails'): download into a partial file, verify, commit under its key.

Verification is what makes a copy count: the byte count must be the size Airtable reports, and the sha256 of the
bytes as downloaded must equal the sha256 of what the store holds when read back. Only then is the partial moved
to its key, and only after that does the caller mark the attachment archived; a kill at any point before leaves
the attachment pending (and at worst a stray partial file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from airtable_pg.airtable.content import download
from airtable_pg.archive.store import ArchiveStore
from airtable_pg.postgres.attachments import Attachment


class VerifyFailed(Exception):
    """The copy is not the file Airtable describes (short, long, or changed on its way into the store)."""


@dataclass(frozen=True)
class Copied:
    key: str
    url: str
    sha256: str
    size: int


def copy_content(store: ArchiveStore, attachment_id: str, key: str, url: str, expected_size: int | None) -> Copied:
    """Copy the content at ``url`` to ``key``; raises ``UrlExpired``/``DownloadFailed``/``VerifyFailed``.

    ``expected_size``: the byte count Airtable reports (thumbnails have none: their checksum alone is verified).
    """
    digest = hashlib.sha256()
    count = 0
    with store.partial(attachment_id) as (partial_path, handle):

        def sink(chunk: bytes) -> None:
            nonlocal count
            digest.update(chunk)
            count += len(chunk)
            handle.write(chunk)

        download(url, sink)
    try:
        if expected_size is not None and count != expected_size:
            raise VerifyFailed(f"downloaded {count} bytes, Airtable reports {expected_size}")
        stored_sha, stored_size = store.checksum(partial_path)
        if (stored_sha, stored_size) != (digest.hexdigest(), count):
            raise VerifyFailed("the stored copy differs from the bytes downloaded")
        store.commit(partial_path, key)
    except BaseException:
        store.remove(partial_path)
        raise
    if store.size(key) != count:
        raise VerifyFailed("the committed copy has another size than the verified one")
    return Copied(key, store.url(key), digest.hexdigest(), count)


def copy_attachment(store: ArchiveStore, item: Attachment, url: str) -> Copied:
    """The attachment's file, under ``<base>/<attachment id>/<filename>``."""
    key = store.key(item.base_id, item.attachment_id, item.filename)
    return copy_content(store, item.attachment_id, key, url, item.size)


def copy_thumbnails(store: ArchiveStore, item: Attachment, thumbnails: dict[str, Any] | None) -> dict[str, Any]:
    """Each thumbnail Airtable offers (small, large, full for images), under ``<base>/<attachment id>/thumbnails/``."""
    copies: dict[str, Any] = {}
    for variant, thumb in sorted((thumbnails or {}).items()):
        if not isinstance(thumb, dict) or not isinstance(thumb.get("url"), str):
            continue
        key = store.thumbnail_key(item.base_id, item.attachment_id, variant)
        copied = copy_content(store, item.attachment_id, key, thumb["url"], None)
        copies[variant] = {
            "key": copied.key, "url": copied.url, "sha256": copied.sha256, "size": copied.size,
            "width": thumb.get("width"), "height": thumb.get("height"),
        }  # fmt: skip
    return copies
