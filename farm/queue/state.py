"""Job states and the one function that moves a job between them."""

from __future__ import annotations

import enum

from farm.errors import IllegalTransition


class JobState(str, enum.Enum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for states a job only leaves when someone retries it."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.CANCELLED: frozenset({JobState.QUEUED}),
}
"""Allowed moves. running -> queued is a retry after a failed attempt or a restart of the service;
queued -> failed, a job whose dependency failed or was cancelled."""


STATE_PHRASES = {
    JobState.QUEUED: "is queued",
    JobState.RUNNING: "is running",
    JobState.SUCCEEDED: "has succeeded",
    JobState.FAILED: "has failed",
    JobState.CANCELLED: "was cancelled",
}
MOVE_PHRASES = {
    JobState.QUEUED: "be queued again",
    JobState.RUNNING: "start",
    JobState.SUCCEEDED: "succeed",
    JobState.FAILED: "fail",
    JobState.CANCELLED: "be cancelled",
}
WHAT_NEXT = {
    JobState.SUCCEEDED: "; its outputs are ready (submit it again to render it again)",
    JobState.FAILED: "; retry it to run it again",
    JobState.CANCELLED: "; retry it to run it again",
}


def check_transition(current: JobState | str, target: JobState | str) -> JobState:
    """Return ``target`` as a JobState if a job in ``current`` may move there; else raise IllegalTransition, saying
    in words where the job is, what it cannot do, and what can be done instead."""
    current, target = JobState(current), JobState(target)
    if target not in TRANSITIONS[current]:
        hint = "" if target is JobState.QUEUED else WHAT_NEXT.get(current, "")
        raise IllegalTransition(f"the job {STATE_PHRASES[current]}, so it cannot {MOVE_PHRASES[target]}{hint}")
    return target
