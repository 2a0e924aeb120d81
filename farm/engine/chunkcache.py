"""A content-addressed cache of a render's intermediate results, kept between renders.

Each entry is the full result of one render task (a strip's chunk, a chunk
of the mix bus or the master, a deliverable's chunk: its audio blocks,
loudness partials and carried state) stored under a key that hashes
everything the result depends on (:mod:`farm.engine.fingerprint`). A
revision of a session renders again only what its change reaches; every
other task's result is read back, bit for bit as it was made.

The entries lie in a folder on this machine or in object storage
(:mod:`farm.engine.cacheentries`). An entry is a magic line, the SHA-256
digest of the rest (SHA-256 because processors hash it in hardware), then
the results pickled with their arrays' memory out of band (pickle protocol
5): a table of sizes, the pickle, and each array's bytes, aligned to
:data:`ALIGN_BYTES`. So neither a write nor a read copies the audio through
the pickle: a read makes the arrays over the very bytes it read. A read
checks the digest: a truncated or corrupted entry is deleted and counts as
a miss, so it is made again and never used. The cache is held to ``limit_bytes`` by
:meth:`ChunkCache.trim`, which a render calls as it writes and when it
ends: the least recently used entries go until it holds at most
:data:`EVICT_TO` of the limit.

The payload is a pickle: a cache must be one that only this farm's
renders write (the service keeps one per studio).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
from typing import Any

from farm.storage.location import Location

from .cacheentries import entries_at

MAGIC = b"mixfarm-cache/2\n"
DIGEST_BYTES = 32
ALIGN_BYTES = 64
"""Where in an entry each array's bytes start: a multiple of this from the start of the entry."""
EVICT_TO = 0.9
"""An eviction removes entries until the cache holds at most this share of its limit."""
DEFAULT_LIMIT_BYTES = 20 * 1000**3
"""The size a cache is held to unless told otherwise: 20 GB."""
KEY_CHARS = 2 * DIGEST_BYTES


class ChunkCache:
    """Task results by key at ``root`` (a local folder, made when first written, or an fsspec URI), held to ``limit_bytes``."""

    def __init__(self, root: str | os.PathLike | Location, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"cache limit: must be > 0 bytes, got {limit_bytes}")
        self.location = Location.of(root)
        self.limit_bytes = int(limit_bytes)
        self.entries = entries_at(self.location)
        self.corrupt = 0
        """How many entries failed their checksum (or were cut short) and were removed."""

    def __reduce__(self):
        return (ChunkCache, (self.location.address, self.limit_bytes))

    def __str__(self) -> str:
        return self.location.address

    def contains(self, key: str) -> bool:
        """Whether an entry is stored under ``key`` (not checked until it is read)."""
        return self.entries.has(_checked_key(key))

    def get(self, key: str) -> Any | None:
        """The results stored under ``key``, or None when there are none or they fail their checksum (then removed)."""
        data = self.entries.read(_checked_key(key))
        if data is None:
            return None
        results = _decoded(memoryview(data))
        if results is _BAD:
            self.corrupt += 1
            self.entries.remove([key])
            return None
        self.entries.touch(key)
        return results

    def put(self, key: str, results: Any) -> int:
        """Store ``results`` under ``key`` (replacing what is there); the bytes written."""
        parts = _encoded(results)
        self.entries.write(_checked_key(key), parts)
        return sum(memoryview(part).nbytes for part in parts)

    def trim(self) -> int:
        """If the entries take more than the limit, remove the least recently used until they take at most
        :data:`EVICT_TO` of it; what they take after, in bytes."""
        listing = self.entries.listing()
        total = sum(entry.size_bytes for entry in listing)
        if total <= self.limit_bytes:
            return total
        goal = EVICT_TO * self.limit_bytes
        doomed = []
        for entry in sorted(listing, key=lambda entry: entry.used_ns):
            if total <= goal:
                break
            doomed.append(entry.key)
            total -= entry.size_bytes
        self.entries.remove(doomed)
        return total

    def size_bytes(self) -> int:
        """What the entries take now, in bytes."""
        return sum(entry.size_bytes for entry in self.entries.listing())


def _checked_key(key: str) -> str:
    if len(key) != KEY_CHARS or not all(char in "0123456789abcdef" for char in key):
        raise ValueError(f"cache key: must be {KEY_CHARS} lowercase hex characters, got {key!r}")
    return key


_BAD = object()
_SIZE = struct.Struct("<Q")


def _encoded(results: Any) -> list:
    """An entry's parts: magic, digest, then the table of sizes (arrays, pickle, each array), the pickle and the arrays' bytes, aligned."""
    arrays: list[memoryview] = []
    pickled = pickle.dumps(results, protocol=5, buffer_callback=lambda buffer: arrays.append(buffer.raw()))
    table = _SIZE.pack(len(arrays)) + _SIZE.pack(len(pickled)) + b"".join(_SIZE.pack(array.nbytes) for array in arrays)
    body = [table, pickled]
    offset = len(MAGIC) + DIGEST_BYTES + len(table) + len(pickled)
    for array in arrays:
        body += [bytes(-offset % ALIGN_BYTES), array]
        offset += -offset % ALIGN_BYTES + array.nbytes
    digest = hashlib.sha256()
    for part in body:
        digest.update(part)
    return [MAGIC, digest.digest(), *body]


def _decoded(data: memoryview) -> Any:
    """The results an entry's bytes hold, their arrays over ``data``; :data:`_BAD` when the magic, digest or sizes are wrong."""
    head = len(MAGIC) + DIGEST_BYTES
    if len(data) < head + 2 * _SIZE.size or data[: len(MAGIC)] != MAGIC:
        return _BAD
    if hashlib.sha256(data[head:]).digest() != data[len(MAGIC) : head]:
        return _BAD
    count, pickled_bytes = _SIZE.unpack_from(data, head)[0], _SIZE.unpack_from(data, head + _SIZE.size)[0]
    offset = head + (2 + count) * _SIZE.size
    if offset > len(data):
        return _BAD
    sizes = [_SIZE.unpack_from(data, head + (2 + index) * _SIZE.size)[0] for index in range(count)]
    pickled = data[offset : offset + pickled_bytes]
    offset += pickled_bytes
    arrays = []
    for size in sizes:
        offset += -offset % ALIGN_BYTES
        arrays.append(data[offset : offset + size])
        offset += size
    if offset != len(data):
        return _BAD
    return pickle.loads(pickled, buffers=arrays)
