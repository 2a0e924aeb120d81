"""The search, filters and sort of a listing of jobs, read from the query string: ``GET /api/jobs``, the queue page
and its summary take the same ones."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, HTTPException, Query, status

from farm.queue.jobstore import Job, JobStore
from farm.queue.listing import MAX_SEARCH_CHARS, JobFilter, SortName
from farm.queue.state import JobState

MAX_STUDIO_CHARS = 100
"""The longest studio name a filter may give."""
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1


async def job_filter(
    q: str = Query("", max_length=MAX_SEARCH_CHARS, description="only jobs whose name contains this text (any case)"),
    studio: str | None = Query(None, min_length=1, max_length=MAX_STUDIO_CHARS, description="only this studio's jobs"),
    state: list[JobState] = Query([], max_length=len(JobState), description="only jobs in one of these states (repeat the parameter for several)"),
    priority_min: int | None = Query(None, ge=PRIORITY_MIN, le=PRIORITY_MAX, description="only jobs with at least this priority"),
    priority_max: int | None = Query(None, ge=PRIORITY_MIN, le=PRIORITY_MAX, description="only jobs with at most this priority"),
    sort: SortName = Query("newest", description="newest or oldest first, priority (highest first), name, or queue: running jobs, then queued ones in the order they run, then the rest"),
) -> JobFilter:
    """The listing the query string asks for (422 naming the parameters when ``priority_min`` is above ``priority_max``)."""
    if priority_min is not None and priority_max is not None and priority_min > priority_max:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"priority_min: {priority_min} is above priority_max: {priority_max}")
    return JobFilter(search=q.strip(), studio=studio, states=tuple(state), priority_min=priority_min, priority_max=priority_max, sort=sort)


JobFilterDep = Annotated[JobFilter, Depends(job_filter)]


def scoped(listing: JobFilter, visible: str | None) -> JobFilter | None:
    """``listing`` kept to the jobs of ``visible`` (None: every studio's); None when it asks for another studio's jobs,
    which the caller may not see (it lists none)."""
    if visible is None:
        return listing
    if listing.studio not in (None, visible):
        return None
    return dataclasses.replace(listing, studio=visible)


def listed(store: JobStore, listing: JobFilter | None, limit: int, offset: int) -> tuple[list[Job], int]:
    """A page of ``listing`` and its total; nothing for a listing of jobs the caller may not see (None)."""
    return store.list(listing, limit=limit, offset=offset) if listing is not None else ([], 0)
