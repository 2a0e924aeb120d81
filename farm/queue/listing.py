"""Which jobs a listing shows, and in what order: the search, filters and sorts that the API, the queue page and
the CLI share."""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

from .state import JobState

MAX_SEARCH_CHARS = 100
"""The longest search text."""

QUEUE_ORDER = (
    "CASE state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END, "
    "CASE state WHEN 'queued' THEN -priority ELSE 0 END, "
    "CASE WHEN state IN ('running', 'queued') THEN seq ELSE -seq END"
)
SortName = Literal["newest", "oldest", "priority", "name", "queue"]
SORTS: dict[SortName, str] = {
    "newest": "seq DESC",
    "oldest": "seq",
    "priority": "priority DESC, seq DESC",
    "name": "name COLLATE NOCASE, seq DESC",
    "queue": QUEUE_ORDER,
}
assert set(SORTS) == set(get_args(SortName))
"""Sort name -> ORDER BY. ``queue``: running jobs (oldest first), then queued ones in the order their studio's jobs
are claimed (highest priority, then oldest), then the rest, newest first."""


@dataclasses.dataclass(frozen=True)
class JobFilter:
    """What a listing keeps: jobs whose name contains ``search`` (any case), of ``studio`` (None: every studio), in
    one of ``states`` (none: any), with a priority from ``priority_min`` to ``priority_max`` (inclusive, None: no
    bound), in the order named by ``sort`` (a key of :data:`SORTS`)."""

    search: str = ""
    studio: str | None = None
    states: tuple[JobState, ...] = ()
    priority_min: int | None = None
    priority_max: int | None = None
    sort: SortName = "newest"

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort: {self.sort!r} is not one of {', '.join(SORTS)}")
        if len(self.search) > MAX_SEARCH_CHARS:
            raise ValueError(f"search: {len(self.search)} characters, more than {MAX_SEARCH_CHARS}")

    def where(self) -> tuple[str, list]:
        """The WHERE clause ("" when it keeps every job) and its parameters."""
        terms, params = [], []
        if self.studio is not None:
            terms.append("studio = ?")
            params.append(self.studio)
        if self.states:
            states = list(dict.fromkeys(JobState(state).value for state in self.states))
            terms.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        if self.search:
            terms.append("name LIKE ? ESCAPE '\\'")
            params.append(f"%{like_escaped(self.search)}%")
        if self.priority_min is not None:
            terms.append("priority >= ?")
            params.append(int(self.priority_min))
        if self.priority_max is not None:
            terms.append("priority <= ?")
            params.append(int(self.priority_max))
        return (f"WHERE {' AND '.join(terms)}" if terms else ""), params

    def order(self) -> str:
        """The ORDER BY terms."""
        return SORTS[self.sort]


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards (``%``, ``_``) and the escape character taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

