"""One attachment's copy: download into a partial file, verify, commit under its key.

Verification is what makes a copy count: the byte count must be the size Airtable reports, and the sha256 of the
bytes as downloaded must equal the sha256 of what the store holds when read back. Only then is the partial moved
to its key, and only after that does the caller mark the attachment archived; a kill at any point before leaves
the attachment pending (and at worst a stray partial file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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


def copy_attachment(store: ArchiveStore, item: Attachment, url: str) -> Copied:
    """Copy the content at ``url`` for ``item``; raises ``UrlExpired``/``DownloadFailed``/``VerifyFailed``."""
    digest = hashlib.sha256()
    count = 0
    key = store.key(item.base_id, item.attachment_id, item.filename)
    with store.partial(item.attachment_id) as (partial_path, handle):

        def sink(chunk: bytes) -> None:
            nonlocal count
            digest.update(chunk)
            count += len(chunk)
            handle.write(chunk)

        download(url, sink)
    try:
        if item.size is not None and count != item.size:
            raise VerifyFailed(f"downloaded {count} bytes, Airtable reports {item.size}")
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
