"""Resolving the paths a session names, inside the folders it may use."""

from __future__ import annotations

from pathlib import Path


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
