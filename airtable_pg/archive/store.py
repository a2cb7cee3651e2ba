"""Where copies live: a local directory, or any S3-compatible bucket, through fsspec (s3fs for ``s3://``).

Layout: ``<root>/<base id>/<attachment id>/<filename>`` (thumbnails in ``…/thumbnails/<variant>``), so a copy is
found by its Airtable attachment id alone.
A copy is written under ``<root>/.partial/`` first, verified, then moved to its key: the key never holds a
partial file (a local rename is atomic; an S3 object appears whole when its copy completes), and a copier killed
mid-write leaves only a partial that no state row points at (the purge removes old ones).

Credentials for S3 come from the usual AWS sources (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile,
an instance role), read by botocore: airtable_pg never holds or logs them.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from airtable_pg.archive.config import ArchiveConfig

PARTIAL = ".partial"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_CHUNK = 1024 * 1024


def safe_filename(filename: str) -> str:
    """A filename that is one path segment on every store (Airtable allows ``/`` and anything else)."""
    cleaned = _UNSAFE.sub("_", filename).strip("._")[:120]
    return cleaned or "file"


class ArchiveStore:
    def __init__(self, config: ArchiveConfig) -> None:
        options: dict[str, Any] = {}
        if config.store_url.startswith("s3://"):
            # No listing cache: another process's writes must be seen; a fresh instance, not fsspec's shared one.
            options = {"use_listings_cache": False, "skip_instance_cache": True}
            if config.s3_endpoint_url:
                options["endpoint_url"] = config.s3_endpoint_url
        self.fs, root = fsspec.core.url_to_fs(config.store_url, **options)
        if isinstance(self.fs, LocalFileSystem):
            self.fs = LocalFileSystem(auto_mkdir=True)
            self.fs.makedirs(root, exist_ok=True)
        self.root = root.rstrip("/")
        self._public_url = config.public_url.rstrip("/") if config.public_url else None

    # -- keys and URLs ---------------------------------------------------------------------------------

    def key(self, base_id: str, attachment_id: str, filename: str) -> str:
        return f"{base_id}/{attachment_id}/{safe_filename(filename)}"

    def thumbnail_key(self, base_id: str, attachment_id: str, variant: str) -> str:
        # A folder no file can take: safe_filename never leaves a "/" in a filename.
        return f"{base_id}/{attachment_id}/thumbnails/{safe_filename(variant)}"

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def url(self, key: str) -> str:
        """The copy's stable address: under the public URL when one is set, else the store's own URL."""
        if self._public_url:
            return f"{self._public_url}/{key}"
        return self.fs.unstrip_protocol(self.path(key))

    # -- writing, verifying, committing ----------------------------------------------------------------

    @contextmanager
    def partial(self, attachment_id: str) -> Iterator[tuple[str, IO[bytes]]]:
        """A fresh partial file to write; removed if the block raises (a kill leaves it to the purge)."""
        path = f"{self.root}/{PARTIAL}/{attachment_id}.{uuid.uuid4().hex}"
        try:
            with self.fs.open(path, "wb") as handle:
                yield path, handle
        except BaseException:
            self.remove(path)
            raise

    def checksum(self, path: str) -> tuple[str, int]:
        """sha256 and byte count of what the store holds at ``path``, read back from the store."""
        digest = hashlib.sha256()
        count = 0
        with self.fs.open(path, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
                count += len(chunk)
        return digest.hexdigest(), count

    def commit(self, partial_path: str, key: str) -> None:
        """Move a verified partial to its key (replacing an earlier copy of the same attachment)."""
        self.fs.mv(partial_path, self.path(key))

    def open(self, key: str) -> IO[bytes]:
        """The stored copy at ``key``, for reading (what ``airtable-pg api`` serves)."""
        return self.fs.open(self.path(key), "rb")

    def size(self, key: str) -> int | None:
        try:
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError:
            return None

    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self.path(key)))

    def remove(self, path: str) -> None:
        with suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def delete(self, key: str) -> None:
        self.remove(self.path(key))

    def stale_partials(self, older_than_seconds: float) -> list[str]:
        """Partial files left by killed copiers (older than any live copier's lease)."""
        directory = f"{self.root}/{PARTIAL}"
        try:
            entries = self.fs.ls(directory, detail=True)
        except FileNotFoundError:
            return []
        cutoff = time.time() - older_than_seconds
        stale = []
        for entry in entries:
            modified = _modified(entry)
            if entry.get("type") == "file" and (modified is None or modified < cutoff):
                stale.append(entry["name"])
        return stale


def _modified(entry: dict[str, Any]) -> float | None:
    value = entry.get("mtime") or entry.get("LastModified") or entry.get("last_modified")
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)
