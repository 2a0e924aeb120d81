"""The exceptions that :mod:`farm` raises, in one place."""

from __future__ import annotations


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


class RenderError(FarmError, RuntimeError):
    """A render failed; the message says which task and why."""


class RenderCancelled(FarmError):
    """A render was stopped on request before it finished."""
