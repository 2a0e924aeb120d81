"""Resolving the paths a session names, inside the folders it may use."""

from __future__ import annotations

from pathlib import Path

from farm import storage

MAX_PATH_CHARS = 1024
"""The longest file path (as written in a session) accepted, in characters."""


def locate(folder: Path | str, relative: str, roots: list[Path]) -> str:
    """The path (checked to lie in ``roots``) or URI (checked to stay in the folder URI ``folder``) of a file a session names.

    Raises ValueError stating the rule.
    """
    if isinstance(folder, str):
        return storage.resolve(folder, relative)
    return str(resolve_path(folder, relative, roots))


def resolve_path(folder: Path, relative: str, roots: list[Path]) -> Path:
    """The real path of ``relative`` (from ``folder``), which must lie in one of ``roots``.

    Symlinks are followed before the check, so a link pointing out is refused
    too. Raises ValueError stating the rule.
    """
    candidate = Path(relative)
    resolved = (folder / candidate).resolve()
    if not any(is_inside(resolved, root) for root in roots):
        rule = "absolute paths must lie in an allowed root" if candidate.is_absolute() else "must stay inside the session folder"
        raise ValueError(f"{rule}, got {relative!r}")
    return resolved


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or lies below it (both resolved)."""
    return path == root or root in path.parents
