"""Attachments an app adds in Postgres whose bytes Airtable cannot fetch by URL: the pusher uploads them.

An attachment cell of a Postgres-authoritative table holds Airtable's attachment objects. The app adds a file to
it in one of three shapes:

* ``{"url": "https://…", "filename"?}``: Airtable downloads it (the URL must be public); written as it is.
* ``{"archived": "att…"}``: a copy in airtable_pg's attachment archive (e.g. one record's file attached to another;
  Airtable's own URL for it may have expired long ago).
* ``{"file": "reports/2026/q4.pdf", "filename"?, "type"?}``: a file under ``AIRTABLE_PG_UPLOAD_DIR`` (a path
  relative to it; ``..`` and absolute paths are refused, so a row can never make the pusher read another file).

The last two are sent to Airtable's upload endpoint (``content.airtable.com/v0/{base}/{record}/{field}/
uploadAttachment``, through the same rate-limited client) after the record itself is written, since the upload
needs the record's id. The record write sets the cell to the objects Airtable already has, and each upload then
appends one file: a push repeated after a crash sets the cell again before uploading again, so a file is never
attached twice. Airtable's answer replaces the app's ``archived``/``file`` items with Airtable's objects in the row.
A source that cannot be read, or a file over Airtable's 5 MB, is a permanent error: the change becomes a dead
letter that names the file.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from psycopg import Cursor
from pyairtable import Api

from airtable_pg.airtable.errors import airtable_errors
from airtable_pg.archive.config import ArchiveConfig
from airtable_pg.archive.store import ArchiveStore
from airtable_pg.postgres import attachments

MAX_UPLOAD_BYTES = 5_000_000  # Airtable's limit for uploadAttachment (5 MB)
UPLOAD_KEYS = ("archived", "file")


class UploadRefused(ValueError):
    """An upload that cannot succeed however often it is tried (a permanent push error)."""


@dataclass(frozen=True)
class Upload:
    """One file to append, checked (where it is, how big) when the change is prepared; its bytes are read only as
    it is sent, so a pass of many changes never holds more than one file in memory."""

    field_id: str
    filename: str
    content_type: str
    size: int
    read: Callable[[], bytes] = field(repr=False)


def is_upload(item: Any) -> bool:
    return isinstance(item, dict) and not item.get("id") and any(item.get(key) for key in UPLOAD_KEYS)


def split_uploads(value: Any) -> tuple[Any, list[dict[str, Any]]]:
    """An attachment cell's items Airtable has or can fetch, and the items to upload."""
    if not isinstance(value, list):
        return value, []
    return [item for item in value if not is_upload(item)], [item for item in value if is_upload(item)]


class UploadSources:
    """Reads the bytes of an ``archived`` or ``file`` item."""

    def __init__(self, archive: ArchiveConfig | None, upload_dir: Path | None) -> None:
        self._archive_config = archive
        self._archive: ArchiveStore | None = None  # opened at the first archived item (an S3 store costs a client)
        self.upload_dir = upload_dir.resolve() if upload_dir else None

    def find(self, cur: Cursor, field_id: str, item: dict[str, Any]) -> Upload:
        if item.get("archived"):
            upload = self._archived(cur, field_id, str(item["archived"]))
        else:
            upload = self._file(field_id, str(item["file"]))
        if upload.size > MAX_UPLOAD_BYTES:
            raise UploadRefused(
                f"{upload.filename}: {upload.size:,} bytes, over Airtable's upload limit of "
                f"{MAX_UPLOAD_BYTES:,} (give Airtable a public URL instead: {{\"url\": …}})"
            )
        filename = str(item.get("filename") or upload.filename)
        return replace(upload, filename=filename, content_type=str(item.get("type") or upload.content_type))

    def _archived(self, cur: Cursor, field_id: str, attachment_id: str) -> Upload:
        copy = attachments.archived_copy(cur, attachment_id)
        if copy is None or self._archive_config is None:
            raise UploadRefused(f"attachment {attachment_id} has no verified copy in the archive")
        if self._archive is None:
            self._archive = ArchiveStore(self._archive_config)
        store, key = self._archive, copy.store_key
        size = store.size(key)
        if size is None:
            raise UploadRefused(f"attachment {attachment_id}: its archived copy is gone")
        content_type = copy.content_type or _guess_type(copy.filename)
        return Upload(field_id, copy.filename, content_type, size, lambda: store.read(key))

    def _file(self, field_id: str, relative: str) -> Upload:
        if self.upload_dir is None:
            raise UploadRefused(f"{relative!r}: set AIRTABLE_PG_UPLOAD_DIR to upload files from a directory")
        parts = PurePosixPath(relative)
        if parts.is_absolute() or ".." in parts.parts or not parts.parts:
            raise UploadRefused(f"{relative!r}: a file is named by a path relative to AIRTABLE_PG_UPLOAD_DIR")
        path = (self.upload_dir / parts).resolve()
        if not path.is_relative_to(self.upload_dir) or not path.is_file():  # a symlink out of the directory too
            raise UploadRefused(f"{relative!r}: no such file under AIRTABLE_PG_UPLOAD_DIR")
        return Upload(field_id, path.name, _guess_type(path.name), path.stat().st_size, path.read_bytes)


def upload(api: Api, base_id: str, table_id: str, record_id: str, item: Upload) -> dict[str, Any]:
    """Append ``item`` to the record's cell; Airtable's answer: ``{id, createdTime, fields: {field id: cell}}``.

    A source gone or grown past the limit since the change was prepared raises ``UploadRefused``."""
    try:
        content = item.read()
    except OSError as gone:
        raise UploadRefused(f"{item.filename}: could not be read ({type(gone).__name__})") from None
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"{item.filename}: {len(content):,} bytes, over Airtable's upload limit")
    with airtable_errors():
        return dict(
            api.table(base_id, table_id).upload_attachment(
                record_id, item.field_id, item.filename, content=content, content_type=item.content_type
            )
        )


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
