"""A content-addressed cache of a render's intermediate results, kept between renders.

Each entry is the full result of one render task (a strip's chunk, a chunk
of the mix bus or the master, a deliverable's chunk: its audio blocks,
loudness partials and carried state) stored under a key that hashes
everything the result depends on (:mod:`farm.engine.fingerprint`). A
revision of a session renders again only what its change reaches; every
other task's result is read back, bit for bit as it was made.

An entry is a file ``<root>/<key[:2]>/<key>``: a magic line, the SHA-256
digest of the payload (SHA-256 because processors hash it in hardware), then the payload (the results, pickled). A read
checks the digest: a truncated or corrupted entry is deleted and counts as
a miss, so it is made again and never used. Writes go to a temporary name
and are renamed into place, so a reader never sees half an entry. The
cache holds at most ``limit_bytes``: a write that takes it over removes the
least recently used entries (by modification time, which a read renews)
until it is at most :data:`EVICT_TO` of the limit.

The payload is a pickle: a cache folder must be one that only this farm's
renders write (the service keeps one per studio, under its data folder).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
import time
import uuid
from pathlib import Path
from typing import Any

MAGIC = b"mixfarm-cache/1\n"
DIGEST_BYTES = 32
EVICT_TO = 0.9
"""An eviction removes entries until the cache holds at most this share of its limit."""
DEFAULT_LIMIT_BYTES = 20 * 1000**3
"""The size a cache is held to unless told otherwise: 20 GB."""
KEY_CHARS = 2 * DIGEST_BYTES


class ChunkCache:
    """Task results by key in the folder ``root`` (made when first written), held to ``limit_bytes``."""

    def __init__(self, root: str | os.PathLike, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"cache limit: must be > 0 bytes, got {limit_bytes}")
        self.root = Path(root)
        self.limit_bytes = int(limit_bytes)
        self._lock = threading.Lock()
        self._size_bytes: int | None = None
        self.corrupt = 0
        """How many entries failed their checksum (or were cut short) and were removed."""

    def __reduce__(self):
        return (ChunkCache, (str(self.root), self.limit_bytes))

    def contains(self, key: str) -> bool:
        """Whether an entry is stored under ``key`` (not checked until it is read)."""
        return self._path(key).is_file()

    def get(self, key: str) -> Any | None:
        """The results stored under ``key``, or None when there are none or they fail their checksum (then removed)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        payload = _checked(memoryview(data))
        if payload is None:
            self.corrupt += 1
            _remove(path)
            return None
        _touch(path)
        return pickle.loads(payload)

    def put(self, key: str, results: Any) -> None:
        """Store ``results`` under ``key`` (a no-op when an entry is already there), then evict past the limit."""
        path = self._path(key)
        if path.exists():
            return
        payload = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        try:
            with open(partial, "wb") as handle:
                handle.write(MAGIC + hashlib.sha256(payload).digest())
                handle.write(payload)
            os.replace(partial, path)
        except BaseException:
            _remove(partial)
            raise
        _touch(path)
        with self._lock:
            self._size_bytes = (self._size_bytes if self._size_bytes is not None else self._measure()) + len(MAGIC) + DIGEST_BYTES + len(payload)
            over = self._size_bytes > self.limit_bytes
        if over:
            self.evict()

    def evict(self) -> None:
        """Remove the least recently used entries until the cache holds at most :data:`EVICT_TO` of its limit."""
        entries = []
        for path in self._entries():
            try:
                facts = path.stat()
            except FileNotFoundError:
                continue
            entries.append((facts.st_mtime_ns, facts.st_size, path))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        goal = EVICT_TO * self.limit_bytes
        for _, size, path in entries:
            if total <= goal:
                break
            _remove(path)
            total -= size
        with self._lock:
            self._size_bytes = total

    def size_bytes(self) -> int:
        """What the entries take now, in bytes."""
        with self._lock:
            self._size_bytes = self._measure()
            return self._size_bytes

    def _measure(self) -> int:
        total = 0
        for path in self._entries():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def _entries(self):
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.is_dir() and len(folder.name) == 2:
                yield from (path for path in folder.iterdir() if not path.name.startswith("."))

    def _path(self, key: str) -> Path:
        if len(key) != KEY_CHARS or not all(char in "0123456789abcdef" for char in key):
            raise ValueError(f"cache key: must be {KEY_CHARS} lowercase hex characters, got {key!r}")
        return self.root / key[:2] / key


def _checked(data: memoryview) -> memoryview | None:
    """The payload of an entry's bytes, or None when its magic or digest is wrong (corrupted, or cut short)."""
    head = len(MAGIC) + DIGEST_BYTES
    if len(data) < head or data[: len(MAGIC)] != MAGIC:
        return None
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : head]:
        return None
    return payload


_last_stamp_ns = 0
_stamp_lock = threading.Lock()


def _touch(path: Path) -> None:
    """Mark ``path`` used now: its modification time set later than any this process set before.

    File times tick coarsely (a few milliseconds on many kernels), so two
    uses in one tick would otherwise look simultaneous to the eviction.
    """
    global _last_stamp_ns
    with _stamp_lock:
        _last_stamp_ns = max(time.time_ns(), _last_stamp_ns + 1000)
        stamp_ns = _last_stamp_ns
    try:
        os.utime(path, ns=(stamp_ns, stamp_ns))
    except FileNotFoundError:
        pass


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
