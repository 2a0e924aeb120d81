"""Sending a stored output file: from the local disk, or streamed from object storage."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from fastapi.responses import FileResponse, Response, StreamingResponse

from farm.storage import Location

CHUNK_BYTES = 1 << 20
"""How much of a stored object is read and sent at a time (bytes)."""


def file_response(location: Location) -> Response:
    """A response sending the file at ``location`` as an attachment.

    A local file is sent by the server from disk; a URI is streamed from
    storage in :data:`CHUNK_BYTES` pieces, never held whole. Raises
    FileNotFoundError if nothing is there (any other storage failure as it
    comes).
    """
    size = location.size()
    if location.is_local:
        return FileResponse(location.local_path, filename=location.name)
    headers = {"Content-Length": str(size), "Content-Disposition": _attachment(location.name)}
    media_type = mimetypes.guess_type(location.name)[0] or "application/octet-stream"
    return StreamingResponse(location.read_chunks(CHUNK_BYTES), media_type=media_type, headers=headers)


def _attachment(name: str) -> str:
    """The Content-Disposition of a download called ``name`` (RFC 6266, as FileResponse writes it)."""
    quoted = quote(name)
    return f"attachment; filename*=utf-8''{quoted}" if quoted != name else f'attachment; filename="{name}"'
