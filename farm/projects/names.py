"""Strip names for an imported session: unique, never the master's, within the length a session allows."""

from __future__ import annotations

from farm.session.model import MASTER
from farm.session.names import MAX_NAME_CHARS


def strip_names(names: list[str]) -> list[str]:
    """Session names for strips named ``names`` in a project, in order: an empty name becomes ``Track <n>``, a
    name already taken (or ``master``) gets a number. Names compare as a session compares them: exactly."""
    taken = {MASTER}
    unique = []
    for number, name in enumerate(names, 1):
        base = (name if name.strip() else f"Track {number}")[:MAX_NAME_CHARS]
        candidate, count = base, 2
        while candidate in taken:
            candidate = f"{base[: MAX_NAME_CHARS - 6]} {count}"
            count += 1
        taken.add(candidate)
        unique.append(candidate)
    return unique
