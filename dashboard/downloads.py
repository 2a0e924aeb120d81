"""Sending a stored output file: from the local disk, or streamed from object storage, whole or a byte range."""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote

from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from farm.storage import Location

CHUNK_BYTES = 1 << 20
"""How much of a stored object is read and sent at a time (bytes)."""
MAX_RANGE_HEADER_CHARS = 200
"""The longest Range header looked at; a longer one is refused."""
_ONE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class MalformedRange(ValueError):
    """A Range header that is not a byte range (the message says what is allowed)."""


class UnsatisfiableRange(ValueError):
    """A byte range that starts past the end of the file."""


def file_response(location: Location, byte_range: str | None = None, if_range: str | None = None) -> Response:
    """A response sending the file at ``location`` as an attachment, or the part ``byte_range`` asks for.

    A local file is sent by the server from disk, which answers the Range
    header itself. A URI is streamed from storage in :data:`CHUNK_BYTES`
    pieces, never held whole; with one range in ``byte_range`` (the Range
    header: ``bytes=first-last``, ``bytes=first-`` or ``bytes=-suffix``) it
    answers 206 with only those bytes read from storage, 416 for a range past
    the end, 400 for a header that is no byte range. Several ranges, or an
    ``if_range`` (storage gives no validator to compare it with), get the
    whole file. Raises FileNotFoundError if nothing is there (any other
    storage failure as it comes).
    """
    size = location.size()
    if location.is_local:
        return FileResponse(location.local_path, filename=location.name)
    headers = {"Accept-Ranges": "bytes", "Content-Disposition": _attachment(location.name)}
    media_type = mimetypes.guess_type(location.name)[0] or "application/octet-stream"
    try:
        span = None if if_range is not None else requested_span(byte_range, size)
    except MalformedRange as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    except UnsatisfiableRange:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if span is None:
        return StreamingResponse(location.read_chunks(CHUNK_BYTES), media_type=media_type, headers={**headers, "Content-Length": str(size)})
    start, stop = span
    headers.update({"Content-Length": str(stop - start), "Content-Range": f"bytes {start}-{stop - 1}/{size}"})
    return StreamingResponse(location.read_range_chunks(start, stop, CHUNK_BYTES), status_code=206, media_type=media_type, headers=headers)


def requested_span(byte_range: str | None, size_bytes: int) -> tuple[int, int] | None:
    """The bytes ``[start, stop)`` of a ``size_bytes`` file that the Range header ``byte_range`` asks for; None for
    the whole file (no header, or several ranges). Raises MalformedRange or UnsatisfiableRange."""
    if byte_range is None:
        return None
    text = byte_range.strip()
    if len(text) > MAX_RANGE_HEADER_CHARS:
        raise MalformedRange(f"Range: longer than {MAX_RANGE_HEADER_CHARS} characters")
    if "," in text and text.startswith("bytes="):
        return None
    match = _ONE_RANGE.fullmatch(text)
    if match is None or match.group(1) == match.group(2) == "":
        raise MalformedRange(f"Range: {text[:40]!r} is not a byte range (allowed: bytes=first-last, bytes=first- or bytes=-suffix)")
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        if suffix == 0 or size_bytes == 0:
            raise UnsatisfiableRange(text)
        return max(size_bytes - suffix, 0), size_bytes
    start = int(first)
    if last and int(last) < start:
        raise MalformedRange(f"Range: {text[:40]!r} ends before it starts")
    if start >= size_bytes:
        raise UnsatisfiableRange(text)
    return start, min(int(last) + 1, size_bytes) if last else size_bytes


def _attachment(name: str) -> str:
    """The Content-Disposition of a download called ``name`` (RFC 6266, as FileResponse writes it)."""
    quoted = quote(name)
    return f"attachment; filename*=utf-8''{quoted}" if quoted != name else f'attachment; filename="{name}"'
