"""Where a session's files and a job's files live: a local path, or a URI that fsspec opens.

Local paths (one machine, or a shared filesystem such as NFS) are used as
they are. Anything with a scheme (``s3://bucket/song/session.yaml``,
``gs://...``, ``memory://...``) goes through fsspec and its backends (install
``mixfarm[s3]`` for S3). Workers open the files they need themselves, so a
task reads only its own frame range of a stem from object storage.
"""

from __future__ import annotations

import contextlib
import posixpath
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import fsspec
from fsspec.utils import get_protocol


def is_remote(location: str | Path) -> bool:
    """True for a URI with a scheme other than ``file``."""
    return isinstance(location, str) and "://" in location and get_protocol(location) != "file"


@contextlib.contextmanager
def open_binary(location: str | Path, mode: str = "rb") -> Iterator[BinaryIO]:
    """Open a local path or a URI as a seekable binary file."""
    if is_remote(location):
        with fsspec.open(location, mode) as handle:
            yield handle
    else:
        with open(location, mode) as handle:
            yield handle


def read_text(location: str | Path) -> str:
    """The whole file as UTF-8 text."""
    with open_binary(location) as handle:
        return handle.read().decode("utf-8")


def parent(location: str) -> str:
    """The folder URI of a file URI."""
    return location.rsplit("/", 1)[0]


def join(folder: str | Path, *names: str) -> str | Path:
    """``folder/name/...``: a path for a local folder, a URI for a URI."""
    if not is_remote(str(folder)):
        return Path(folder).joinpath(*names)
    return "/".join([str(folder).rstrip("/"), *names])


def resolve(folder: str, relative: str) -> str:
    """``relative`` joined to the folder URI ``folder``; it must stay inside it.

    Raises ValueError stating the rule.
    """
    if "://" in relative or relative.startswith("/"):
        raise ValueError(f"must be relative to the session folder, got {relative!r}")
    scheme, _, root = folder.partition("://")
    joined = posixpath.normpath(posixpath.join(root, relative))
    if not joined.startswith(root.rstrip("/") + "/"):
        raise ValueError(f"must stay inside the session folder, got {relative!r}")
    return f"{scheme}://{joined}"


def write_bytes(location: str | Path, data: bytes) -> None:
    """Write ``data`` as the whole file at ``location``: locally with the folders it needs,
    for a URI in one request (which, unlike opening for writing, never creates a missing bucket)."""
    if not is_remote(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        Path(location).write_bytes(data)
        return
    filesystem, path = fsspec.core.url_to_fs(location)
    filesystem.pipe_file(path, data)


def upload(local: Path, location: str) -> None:
    """Copy a local file to ``location`` (a URI)."""
    filesystem, path = fsspec.core.url_to_fs(location)
    filesystem.put_file(str(local), path)


def upload_folder(local: Path, location: str) -> None:
    """Copy every file below the local folder ``local`` to the same relative name below ``location`` (a URI)."""
    for item in sorted(local.rglob("*")):
        if item.is_file():
            upload(item, f"{location.rstrip('/')}/{item.relative_to(local).as_posix()}")


def size(location: str | Path) -> int:
    """The size of the file at ``location`` in bytes, asked of storage now (no cached listing).

    Raises FileNotFoundError if there is none.
    """
    if not is_remote(location):
        path = Path(location)
        if not path.is_file():
            raise FileNotFoundError(str(location))
        return path.stat().st_size
    filesystem, path = fsspec.core.url_to_fs(location)
    filesystem.invalidate_cache(path)
    info = filesystem.info(path)
    if info["type"] != "file":
        raise FileNotFoundError(location)
    return int(info["size"])


def is_file(location: str | Path) -> bool:
    """True if a file is at ``location`` now."""
    try:
        size(location)
    except FileNotFoundError:
        return False
    return True


def read_chunks(location: str | Path, chunk_bytes: int) -> Iterator[bytes]:
    """The file's content in pieces of at most ``chunk_bytes`` bytes, read as they are asked for."""
    with open_binary(location) as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk


def remove(location: str | Path) -> None:
    """Delete the file or the folder (with everything below it) at ``location``; nothing there is fine."""
    if not is_remote(location):
        path = Path(location)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return
    filesystem, path = fsspec.core.url_to_fs(location)
    with contextlib.suppress(FileNotFoundError):
        filesystem.rm(path, recursive=True)
