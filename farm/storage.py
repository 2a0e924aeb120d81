"""Where a session's files live: a local path, or a URI that fsspec opens.

Local paths (one machine, or a shared filesystem such as NFS) are used as
they are. Anything with a scheme (``s3://bucket/song/session.yaml``,
``gs://...``, ``memory://...``) goes through fsspec and its backends (install
``mixfarm[s3]`` for S3). Workers open the files they need themselves, so a
task reads only its own frame range of a stem from object storage.
"""

from __future__ import annotations

import contextlib
import posixpath
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


def upload(local: Path, location: str) -> None:
    """Copy a local file to ``location`` (a URI)."""
    filesystem, path = fsspec.core.url_to_fs(location)
    filesystem.put_file(str(local), path)
