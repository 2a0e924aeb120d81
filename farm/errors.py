"""The exceptions that :mod:`farm` raises, in one place, and which failures are worth retrying."""

from __future__ import annotations

import errno


class FarmError(Exception):
    """Base class of every error raised by :mod:`farm`."""


class SessionError(FarmError, ValueError):
    """A session file is invalid. ``problems`` lists every problem found, each
    as ``"field.path: what is wrong"``; the message joins them, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        count = len(self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}\n{lines}")


class StemsFolderError(FarmError, ValueError):
    """A folder of stems cannot become a session; the message names the folder or file and why."""


class ProjectError(FarmError, ValueError):
    """A DAW project cannot be imported or exported; the message names the file, the element and why."""


class RenderError(FarmError, RuntimeError):
    """A render failed; the message says which task and why.

    ``transient`` is True when the infrastructure failed (a lost worker or
    node, a storage timeout) and the same render may well succeed if tried
    again; False when the render itself cannot succeed as it is.
    ``failure``, for a task that failed, holds its facts (see
    :func:`farm.engine.failures.task_failure`).
    """

    def __init__(self, message: str, transient: bool = False, failure: dict | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.failure = failure

    def __reduce__(self):
        return type(self), (str(self), self.transient, self.failure)


class DriverLost(RenderError):
    """The process driving a render on the cluster died while it ran."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)

    def __reduce__(self):
        return type(self), (str(self),)


class RenderCancelled(FarmError):
    """A render was stopped on request before it finished."""


class BundleError(FarmError, ValueError):
    """A bundle cannot be accepted; the message says why."""


class BundleTooLarge(BundleError):
    """A bundle would unpack to more than its limit; ``unpacked_bytes`` and ``limit_bytes`` say by how much."""

    def __init__(self, unpacked_bytes: int, limit_bytes: int) -> None:
        self.unpacked_bytes = unpacked_bytes
        self.limit_bytes = limit_bytes
        super().__init__(f"bundle: unpacks to {unpacked_bytes} bytes, over the limit of {limit_bytes} bytes")

    def __reduce__(self):
        return type(self), (self.unpacked_bytes, self.limit_bytes)


class StorageError(FarmError):
    """Storage cannot be reached, read or written; the message names the location."""


class DependencyError(FarmError, ValueError):
    """A job cannot wait for the jobs it names; the message names the one and why."""


class IllegalTransition(FarmError):
    """A job was asked to move to a state it cannot reach from where it is."""


class UnknownJob(FarmError, KeyError):
    """No job has the given id."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id!r}")

    def __str__(self) -> str:
        return self.args[0]


TRANSIENT_ERRNOS = frozenset(
    {errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EAGAIN, errno.ESTALE, errno.EPIPE}
)
"""OS errors of the network or of a remote filesystem that may pass."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the infrastructure that trying again may get past.

    A RenderError says so itself; timeouts, broken connections and the
    network's OS errors are transient; anything else (a bad value, a missing
    file, a full disk) fails the same way each time.
    """
    if isinstance(exc, RenderError):
        return exc.transient
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS
