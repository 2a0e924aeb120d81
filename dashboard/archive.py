"""A job's files as one zip, written as it is sent: never held whole, audio stored as it is.

The zip is made on the fly from the stored files (local or object storage),
:data:`dashboard.downloads.CHUNK_BYTES` at a time, so the memory it takes
does not grow with the files. Audio files go in uncompressed (``stored``):
FLAC, MP3 and Opus are compressed already, and deflating a WAV would cost
the server a core for about a tenth of its size. Only ``report.json`` is
deflated.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator

from dashboard.downloads import CHUNK_BYTES
from farm.storage import Location

MAX_ARCHIVE_BYTES = 16 * 1024**3
"""The largest sum of file sizes one archive may carry (bytes): a job past it is downloaded file by file."""
MAX_ARCHIVE_FILES = 64
"""The most files one archive may carry."""
FILE_MODE = 0o644
"""The permissions each file unpacks with."""


class ArchiveTooLarge(ValueError):
    """The files would make an archive past :data:`MAX_ARCHIVE_BYTES` or :data:`MAX_ARCHIVE_FILES` (the message says which)."""


class _Sink:
    """A write-only, unseekable file that keeps what is written until :meth:`take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        """What was written since the last call."""
        data, self._parts = b"".join(self._parts), []
        return data


def checked_files(
    files: list[tuple[str, Location]], max_bytes: int = MAX_ARCHIVE_BYTES, max_files: int = MAX_ARCHIVE_FILES
) -> list[tuple[str, Location, int]]:
    """``files`` (name in the archive, where it is stored) with their sizes in bytes, asked of storage now.

    Raises FileNotFoundError naming (by its name in the archive) one that has gone, so before any byte is
    sent; ArchiveTooLarge for more
    than ``max_files`` files or more than ``max_bytes`` bytes in all.
    """
    if len(files) > max_files:
        raise ArchiveTooLarge(f"{len(files)} files; an archive carries at most {max_files}")
    sized = []
    for name, location in files:
        try:
            sized.append((name, location, location.size()))
        except FileNotFoundError:
            raise FileNotFoundError(name) from None
    total_bytes = sum(size for _, _, size in sized)
    if total_bytes > max_bytes:
        raise ArchiveTooLarge(f"{total_bytes} bytes of files; an archive carries at most {max_bytes}")
    return sized


def zip_stream(files: list[tuple[str, Location, int]], report: dict | None) -> Iterator[bytes]:
    """The zip of ``files`` (name, location, size in bytes: :func:`checked_files`) and ``report`` as
    ``report.json`` (when there is one), in pieces as they are made."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        for name, location, size in files:
            info = zipfile.ZipInfo(name)
            info.external_attr = FILE_MODE << 16
            with archive.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as entry:
                for chunk in location.read_chunks(CHUNK_BYTES):
                    entry.write(chunk)
                    yield sink.take()
        if report is not None:
            archive.writestr("report.json", json.dumps(report, indent=2), compress_type=zipfile.ZIP_DEFLATED)
    yield sink.take()
