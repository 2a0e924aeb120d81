"""Keys for the render cache: a stable hash of everything a result depends on.

:func:`fingerprint` hashes values of the kinds a render plan is made of
(numbers, strings, tuples, mappings, dataclasses, pydantic models, numpy
arrays) the same way in every process and on every machine: each value is
written with its type, floats by their exact bits, mappings in key order.
:func:`stem_identity` names a stem by its content, so a stem replaced under
the same name is a new input.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .chunkcache import ChunkCache

ENGINE_VERSION = "2"
"""Part of every key: raised whenever a change to the engine changes what a task computes, so no result of an older engine is reused."""
HASH_CHUNK_BYTES = 1 << 20
MAX_REMEMBERED_STEMS = 10_000
"""How many local stems' identities a process keeps (the most recently used)."""

_identities: OrderedDict[tuple, str] = OrderedDict()
_identities_lock = threading.Lock()


def fingerprint(*parts: Any) -> str:
    """The hex SHA-256 digest of ``parts``, written canonically (see the module's docstring), with :data:`ENGINE_VERSION`."""
    digest = hashlib.sha256()
    _write(digest, ("mixfarm-engine", ENGINE_VERSION, parts))
    return digest.hexdigest()


def _write(digest, value: Any) -> None:
    update = digest.update
    if value is None or isinstance(value, bool):
        update(b"N" if value is None else (b"T" if value else b"F"))
    elif isinstance(value, enum.Enum):
        update(b"E")
        _write(digest, (type(value).__name__, value.value))
    elif isinstance(value, int):
        text = str(value).encode()
        update(b"i%d:" % len(text) + text)
    elif isinstance(value, float):
        update(b"f" + struct.pack("<d", value) if not math.isnan(value) else b"fnan")
    elif isinstance(value, str):
        data = value.encode()
        update(b"s%d:" % len(data) + data)
    elif isinstance(value, bytes):
        update(b"b%d:" % len(value) + value)
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        _write(digest, ("ndarray", array.dtype.str, array.shape))
        update(array.tobytes())
    elif isinstance(value, np.generic):
        _write(digest, value.item())
    elif isinstance(value, Mapping):
        update(b"m%d:" % len(value))
        for key in sorted(value, key=repr):
            _write(digest, key)
            _write(digest, value[key])
    elif isinstance(value, (tuple, list)):
        update(b"l%d:" % len(value))
        for item in value:
            _write(digest, item)
    elif isinstance(value, (set, frozenset)):
        _write(digest, ("set", sorted(value, key=repr)))
    elif hasattr(value, "model_dump_json"):
        _write(digest, (type(value).__name__, value.model_dump_json()))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _write(digest, (type(value).__name__, {field.name: getattr(value, field.name) for field in dataclasses.fields(value) if field.compare}))
    else:
        raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def stem_identity(location: str, cache: ChunkCache | None = None) -> str:
    """A stem's identity: for a local file the SHA-256 hash of its bytes, read once while its size and modification time stay the same.

    A process keeps the identities of the last :data:`MAX_REMEMBERED_STEMS`
    local files; with ``cache`` the identity is also kept there, under a key
    of the file's path, device, inode, size and modification time (in ns),
    so the next render (another process, a revision) does not read the file
    again. A URI is named by what its storage says of it: an MD5 of its
    content (an S3 ETag, which is one for an object written in one request,
    or one made of its parts' MD5s for a multipart upload; a GCS
    ``md5Hash``) names it wherever it lies, so two copies of one stem are one
    input; another tag names it with its address and modification time; with
    none, it is read as a local file is.
    """
    from farm.storage import Location

    where = Location.of(location)
    if where.is_local:
        path = where.local_path
        facts = os.stat(path)
        memo = (str(path), facts.st_dev, facts.st_ino, facts.st_size, facts.st_mtime_ns)
        with _identities_lock:
            known = _identities.get(memo)
            if known is not None:
                _identities.move_to_end(memo)
                return known
        known = _stored_identity(cache, memo)
        if known is None:
            known = _content_hash(open(path, "rb"))
            _keep_identity(cache, memo, known)
        with _identities_lock:
            _identities[memo] = known
            while len(_identities) > MAX_REMEMBERED_STEMS:
                _identities.popitem(last=False)
        return known
    info = where.info()
    digest = _content_md5(info)
    if digest is not None:
        return fingerprint("md5", digest, info.get("size"))
    tag = next((info[name] for name in ("ETag", "etag", "crc32c") if info.get(name)), None)
    if tag is not None:
        return fingerprint("stored", str(location), str(tag), info.get("size"), str(info.get("LastModified") or info.get("mtime") or ""))
    return _content_hash(where.open())


def _stored_identity(cache: ChunkCache | None, memo: tuple) -> str | None:
    """The identity ``cache`` holds for the file of ``memo`` (its path, device, inode, size and modification time), or None."""
    if cache is None:
        return None
    key = fingerprint("stem file", memo)
    try:
        known = cache.get(key)
    except OSError:
        return None
    return known if isinstance(known, str) else None


def _keep_identity(cache: ChunkCache | None, memo: tuple, identity: str) -> None:
    if cache is not None:
        try:
            cache.put(fingerprint("stem file", memo), identity)
        except OSError:
            pass


def _content_md5(info: dict) -> str | None:
    """The MD5 of a stored object's content that its storage's listing gives (an S3 ETag of one, a GCS md5Hash), or None."""
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    whole, _, parts = etag.partition("-")
    if len(whole) == 32 and all(char in "0123456789abcdef" for char in whole.lower()) and (not parts or parts.isdigit()):
        return etag
    return info.get("md5Hash") or info.get("md5") or None


def _content_hash(handle) -> str:
    digest = hashlib.sha256()
    with handle:
        while block := handle.read(HASH_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()
