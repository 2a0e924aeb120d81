"""Where a session's files and a job's files live: a local path, or a URI that fsspec opens.

A :class:`Location` is either: a local path (one machine, or a shared
filesystem such as NFS; a ``file://`` URI counts as one), or a URI with a
scheme (``s3://bucket/song/session.yaml``, ``gs://...``, ``memory://...``)
that fsspec and its backends open (install ``mixfarm[s3]`` for S3). Every
read and write goes through fsspec for both kinds, so there is one code path;
workers open the files they need themselves, so a task reads only its own
frame range of a stem from object storage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import get_protocol

_SCHEME_SEPARATOR = "://"


@dataclasses.dataclass(frozen=True)
class Location:
    """A file or folder: a local path or a URI. Build one with :meth:`of`; it is hashable and picklable.

    Attributes
    ----------
    address : str
        The absolute local path, or the URI with its scheme (no trailing
        ``/``), as written otherwise: nothing is resolved or normalised.
    """

    address: str

    @classmethod
    def of(cls, value: str | os.PathLike | Location) -> Location:
        """The location ``value`` names: a path (made absolute), a ``file://`` URI (a local path) or another URI."""
        if isinstance(value, Location):
            return value
        text = os.fspath(value)
        if _SCHEME_SEPARATOR in text and get_protocol(text) != "file":
            scheme, _, path = text.partition(_SCHEME_SEPARATOR)
            return cls(f"{scheme}{_SCHEME_SEPARATOR}{path.rstrip('/')}")
        return cls(str(Path(text.removeprefix(f"file{_SCHEME_SEPARATOR}")).absolute()))

    def __str__(self) -> str:
        return self.address

    @property
    def is_remote(self) -> bool:
        """True for a URI (anything but a local path)."""
        return _SCHEME_SEPARATOR in self.address

    @property
    def is_local(self) -> bool:
        """True for a local path."""
        return not self.is_remote

    @property
    def local_path(self) -> Path:
        """The local path, for code that must open the file natively (libsndfile is much faster on a path
        than on a Python file object). Raises ValueError for a URI."""
        if self.is_remote:
            raise ValueError(f"{self}: not a local path")
        return Path(self.address)

    @property
    def name(self) -> str:
        """The last component: the file's or folder's name."""
        return posixpath.basename(self._split()[1])

    @property
    def parent(self) -> Location:
        """The folder this file or folder lies in."""
        prefix, path = self._split()
        return Location(prefix + posixpath.dirname(path))

    def joinpath(self, *names: str) -> Location:
        """``self/name/...``: ``names`` are relative, ``/`` separates folders; nothing is checked (see :meth:`resolve_inside`)."""
        prefix, path = self._split()
        return Location.of(prefix + posixpath.join(path, *names))

    def resolve_inside(self, relative: str, roots: Sequence[Path] = ()) -> Location:
        """The file ``relative`` names from this folder, checked to stay where a session may point.

        For a local folder, the real path (symlinks followed, so a link
        pointing out is refused too) must lie in this folder's real path or
        in one of ``roots`` (further folders, resolved). For a URI, the
        normalised URI must stay inside this folder, and ``roots`` do not
        apply. Raises ValueError stating the rule.
        """
        if self.is_local:
            candidate = Path(relative)
            resolved = (self.local_path / candidate).resolve()
            if not any(_is_inside(resolved, root) for root in (self.local_path.resolve(), *roots)):
                rule = "absolute paths must lie in an allowed root" if candidate.is_absolute() else "must stay inside the session folder"
                raise ValueError(f"{rule}, got {relative!r}")
            return Location.of(resolved)
        if _SCHEME_SEPARATOR in relative or relative.startswith("/"):
            raise ValueError(f"must be relative to the session folder, got {relative!r}")
        prefix, root = self._split()
        joined = posixpath.normpath(posixpath.join(root, relative))
        if not joined.startswith(root.rstrip("/") + "/"):
            raise ValueError(f"must stay inside the session folder, got {relative!r}")
        return Location(prefix + joined)

    def open(self, mode: str = "rb") -> BinaryIO:
        """The file, open as a seekable binary file (use it in a ``with`` block)."""
        filesystem, path = self._filesystem()
        return filesystem.open(path, mode)

    def read_text(self) -> str:
        """The whole file as UTF-8 text."""
        with self.open() as handle:
            return handle.read().decode("utf-8")

    def write_bytes(self, data: bytes) -> None:
        """Write ``data`` as the whole file: locally with the folders it needs, for a URI in one request
        (which, unlike opening for writing, never creates a missing bucket)."""
        filesystem, path = self._filesystem()
        self._make_parent(filesystem)
        filesystem.pipe_file(path, data)

    def upload_from(self, local_file: Path) -> None:
        """Copy the local file ``local_file`` here (locally with the folders it needs)."""
        filesystem, path = self._filesystem()
        self._make_parent(filesystem)
        filesystem.put_file(str(local_file), path)

    def upload_folder_from(self, local_folder: Path) -> None:
        """Copy every file below the local folder ``local_folder`` to the same relative name below this folder."""
        for item in sorted(local_folder.rglob("*")):
            if item.is_file():
                self.joinpath(*item.relative_to(local_folder).parts).upload_from(item)

    def download_folder_to(self, local_folder: Path) -> None:
        """Copy every file below this folder to the same relative name below the local folder ``local_folder``."""
        filesystem, path = self._filesystem()
        root = path.rstrip("/")
        for remote in sorted(filesystem.find(root)):
            target = local_folder / PurePosixPath(remote[len(root) :].lstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            filesystem.get_file(remote, str(target))

    def size(self) -> int:
        """The file's size in bytes, asked of storage now (no cached listing). Raises FileNotFoundError if there is none."""
        return int(self.info()["size"])

    def info(self) -> dict:
        """What storage says of the file now (fsspec's info: ``size``, and an ETag or checksum where the store keeps one).

        Raises FileNotFoundError if there is none.
        """
        filesystem, path = self._filesystem()
        filesystem.invalidate_cache(path)
        info = filesystem.info(path)
        if info["type"] != "file":
            raise FileNotFoundError(str(self))
        return info

    def is_file(self) -> bool:
        """True if a file is here now."""
        try:
            self.size()
        except FileNotFoundError:
            return False
        return True

    def read_chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        """The file's content in pieces of at most ``chunk_bytes`` bytes, read as they are asked for."""
        with self.open() as handle:
            while chunk := handle.read(chunk_bytes):
                yield chunk

    def read_range_chunks(self, start: int, stop: int, chunk_bytes: int) -> Iterator[bytes]:
        """Bytes ``[start, stop)`` of the file in pieces of at most ``chunk_bytes`` bytes, each asked of storage
        as a range of its own (an object store sends only those bytes, with no read-ahead)."""
        filesystem, path = self._filesystem()
        for first in range(start, stop, chunk_bytes):
            yield filesystem.cat_file(path, start=first, end=min(first + chunk_bytes, stop))

    def remove(self) -> None:
        """Delete the file, or the folder with everything below it; nothing here is fine."""
        filesystem, path = self._filesystem()
        with contextlib.suppress(FileNotFoundError):
            filesystem.rm(path, recursive=True)

    def _split(self) -> tuple[str, str]:
        """``("scheme://", path)`` for a URI, ``("", path)`` for a local path."""
        scheme, separator, path = self.address.partition(_SCHEME_SEPARATOR)
        return (scheme + separator, path) if separator else ("", scheme)

    def _filesystem(self) -> tuple[AbstractFileSystem, str]:
        """The fsspec filesystem that holds this location, and the path it knows it by."""
        if self.is_local:
            return LocalFileSystem(), self.address
        return fsspec.core.url_to_fs(self.address)

    def _make_parent(self, filesystem: AbstractFileSystem) -> None:
        """Create the local folders this file needs; a URI needs none (object stores have no folders)."""
        if self.is_local:
            filesystem.makedirs(self.parent.address, exist_ok=True)


def _is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or lies below it (both resolved)."""
    return path == root or root in path.parents
