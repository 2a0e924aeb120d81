"""Writes into a render's folders that say so plainly when the disk is full."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator

from farm.errors import RenderError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
NEARLY_FULL_BYTES = 1 << 20
"""Free space below which a write that failed without saying why is taken to have failed for want of space."""


@contextlib.contextmanager
def writing_into(folder: str | os.PathLike) -> Iterator[None]:
    """Run writes into ``folder``; a write that fails because its disk is full raises RenderError saying so.

    numpy and libsndfile report a full disk as a short write ("96000
    requested and 40944 written") with no error number, so the disk's free
    space decides. Any other failure passes through unchanged.
    """
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if getattr(exc, "errno", None) in FULL_ERRNOS or _free_bytes(folder) < NEARLY_FULL_BYTES:
            raise RenderError(f"{folder}: no space left on device for the render's files ({exc})") from exc
        raise


def _free_bytes(folder: str | os.PathLike) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return NEARLY_FULL_BYTES
