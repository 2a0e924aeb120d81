"""Answers for failures of what lies beneath the service: a full disk, an unwritable folder, a locked job store.

Each is a 507 (out of space) or a 503 (unavailable) that says which, never
a 500, and names no absolute path; the service goes on serving.
"""

from __future__ import annotations

import errno
import sqlite3

from fastapi import HTTPException, status

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""OS errors that mean the disk or the user's disk quota is full."""


def storage_failure(exc: BaseException, what: str, explanation: str | None = None) -> HTTPException:
    """The answer when writing ``what`` (a name such as "uploads folder") failed with ``exc``.

    507 when the OS error behind ``exc`` says there is no space left, 503
    otherwise; the message gives the OS error's name and text (or
    ``explanation`` when there is no OS error behind it), never its path.
    """
    cause = os_error_in(exc)
    if cause is None:
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{what}: unavailable ({explanation or type(exc).__name__}); try again later")
    reason = f"{errno.errorcode.get(cause.errno, cause.errno)}: {cause.strerror}" if cause.errno is not None else type(cause).__name__
    if cause.errno in FULL_ERRNOS:
        return HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE, f"{what}: out of space ({reason}); nothing was stored, try again once space is freed")
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{what}: cannot be written ({reason}); nothing was stored, try again later")


def os_error_in(exc: BaseException | None) -> OSError | None:
    """``exc`` if it is an OSError, else the OSError it was raised from or while handling, if any."""
    while exc is not None and not isinstance(exc, OSError):
        exc = exc.__cause__ or exc.__context__
    return exc


def store_failure(exc: sqlite3.Error) -> HTTPException:
    """The answer when the job store fails (read-only, locked, full): 507 when its disk is full, 503 otherwise."""
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL:
        return HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE, f"job store: out of space ({exc}); try again once space is freed")
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"job store: unavailable ({exc}); it may be read-only or locked by another process, try again later")
