"""Where the render cache's entries lie: a folder on this machine, or object storage that every node reaches.

Both kinds keep an entry as one file (object) named by its key,
``<root>/<key[:2]>/<key>``, and answer the same questions: its bytes (in a
writable array of uint8, made without zeroing it first, so the arrays made
over them are writable and the read itself runs while other threads hold
the interpreter), that it was used now,
what is stored with its size and last use, and removal.

* :class:`FolderEntries`: a write goes to a temporary name and is renamed
  into place, so a reader never sees half an entry; a use renews the
  file's modification time.
* :class:`ObjectEntries` (an fsspec URI, ``s3://bucket/cache``): a write is
  one request, which object stores apply whole. Reading an object does not
  change its modification time, and stores keep that time in whole seconds,
  so a write or use adds an empty marker ``<root>/used/<key>/<ns>`` named by
  the time in nanoseconds; a listing takes each entry's latest and deletes
  the markers it supersedes. Whether an entry is stored is answered from
  one listing taken when first asked (and kept up to date with this
  process's own writes), not one request per task.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import fsspec
import numpy as np

from farm.storage.location import Location

USED_FOLDER = "used"
"""The folder of an object store cache's use markers."""


class Entry(NamedTuple):
    """A stored entry: its key, its size in bytes, and when it was last written or read (ns since the epoch)."""

    key: str
    size_bytes: int
    used_ns: int


class FolderEntries:
    """Entries as files below the local folder ``root`` (made when first written)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def read(self, key: str) -> np.ndarray | None:
        try:
            with open(self._path(key), "rb") as handle:
                data = np.empty(os.fstat(handle.fileno()).st_size, dtype=np.uint8)
                read = handle.readinto(data)
        except FileNotFoundError:
            return None
        return data[:read]

    def write(self, key: str, parts: Iterable[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        try:
            with open(partial, "wb") as handle:
                for part in parts:
                    handle.write(part)
            os.replace(partial, path)
        except BaseException:
            _unlink(partial)
            raise
        self.touch(key)

    def touch(self, key: str) -> None:
        stamp_ns = _next_stamp_ns()
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(key), ns=(stamp_ns, stamp_ns))

    def remove(self, keys: list[str]) -> None:
        for key in keys:
            _unlink(self._path(key))

    def listing(self) -> list[Entry]:
        found = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(self.root) as folders:
            for folder in folders:
                if len(folder.name) != 2 or not folder.is_dir():
                    continue
                with contextlib.suppress(FileNotFoundError), os.scandir(folder.path) as files:
                    for item in files:
                        if item.name.startswith("."):
                            continue
                        with contextlib.suppress(FileNotFoundError):
                            facts = item.stat()
                            found.append(Entry(item.name, facts.st_size, facts.st_mtime_ns))
        return found

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key


class ObjectEntries:
    """Entries as objects below the URI ``root``, with use markers below ``<root>/used``."""

    def __init__(self, root: Location) -> None:
        self.filesystem, path = fsspec.core.url_to_fs(root.address)
        self.base = path.rstrip("/")
        self._known: set[str] | None = None
        self._markers: dict[str, list[str]] = {}  # key -> its markers at the last listing
        self._lock = threading.Lock()

    def has(self, key: str) -> bool:
        with self._lock:
            known = self._known
        if known is None:
            known = {entry.key for entry in self.listing()}
            with self._lock:
                self._known = known
        return key in known

    def read(self, key: str) -> np.ndarray | None:
        try:
            return np.frombuffer(self.filesystem.cat_file(self._path(key)), dtype=np.uint8).copy()
        except FileNotFoundError:
            self._forget([key])
            return None

    def write(self, key: str, parts: Iterable[bytes]) -> None:
        self.filesystem.pipe_file(self._path(key), b"".join(parts))
        with self._lock:
            if self._known is not None:
                self._known.add(key)
        self.touch(key)

    def touch(self, key: str) -> None:
        self.filesystem.pipe_file(f"{self._marker_folder(key)}/{_next_stamp_ns()}", b"")

    def remove(self, keys: list[str]) -> None:
        if not keys:
            return
        self._forget(keys)
        with self._lock:
            markers = [self._markers.pop(key, None) for key in keys]
        paths = [self._path(key) for key in keys]
        for key, known in zip(keys, markers):
            if known is None:
                with contextlib.suppress(FileNotFoundError):
                    known = self._listed(self._marker_folder(key))
            paths.extend(known or [])
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.rm(paths)

    def listing(self) -> list[Entry]:
        """What is stored; the markers a later one supersedes are deleted on the way.

        An entry without a marker (its writer stopped between the entry and the marker) counts as never used: it goes first.
        """
        found = self._listed(self.base, detail=True)
        prefix = self.base + "/"
        marker_prefix = f"{prefix}{USED_FOLDER}/"
        markers: dict[str, list[str]] = {}
        entries = []
        for path, info in found.items():
            if path.startswith(marker_prefix):
                key, _, stamp = path[len(marker_prefix) :].partition("/")
                if stamp.isdigit():
                    markers.setdefault(key, []).append(path)
                continue
            folder, _, key = path[len(prefix) :].partition("/") if path.startswith(prefix) else ("", "", "")
            if len(folder) == 2 and key.startswith(folder) and "/" not in key:
                entries.append((key, int(info["size"])))
        for paths in markers.values():
            paths.sort(key=lambda path: int(path.rsplit("/", 1)[1]))
        superseded = [path for paths in markers.values() for path in paths[:-1]]
        if superseded:
            with contextlib.suppress(FileNotFoundError):
                self.filesystem.rm(superseded)
        with self._lock:
            self._markers = {key: paths[-1:] for key, paths in markers.items()}
        return [Entry(key, size, int(markers[key][-1].rsplit("/", 1)[1]) if key in markers else 0) for key, size in entries]

    def _listed(self, folder: str, detail: bool = False):
        """Every object below ``folder``, asked of storage now (paths, or paths to their info with ``detail``).

        Raises FileNotFoundError when the bucket itself is missing (an empty folder lists nothing).
        """
        self.filesystem.invalidate_cache(folder)
        return self.filesystem.find(folder, detail=detail)

    def _forget(self, keys: list[str]) -> None:
        with self._lock:
            if self._known is not None:
                self._known.difference_update(keys)

    def _path(self, key: str) -> str:
        return f"{self.base}/{key[:2]}/{key}"

    def _marker_folder(self, key: str) -> str:
        return f"{self.base}/{USED_FOLDER}/{key}"


def entries_at(root: Location) -> FolderEntries | ObjectEntries:
    """The entries kept at ``root``: a local folder, or object storage for a URI."""
    return FolderEntries(root.local_path) if root.is_local else ObjectEntries(root)


_last_stamp_ns = 0
_stamp_lock = threading.Lock()


def _next_stamp_ns() -> int:
    """Now, in ns, later than any stamp this process gave before.

    File times tick coarsely (a few milliseconds on many kernels), so two
    uses in one tick would otherwise look simultaneous to the eviction.
    """
    global _last_stamp_ns
    with _stamp_lock:
        _last_stamp_ns = max(time.time_ns(), _last_stamp_ns + 1000)
        return _last_stamp_ns


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
