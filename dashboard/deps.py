"""What a route may ask FastAPI for: the service, its job store, the caller's studio and one of the caller's jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from farm.queue.jobstore import Job, JobStore

from .auth import authenticate
from .service import Service


def get_service(request: Request) -> Service:
    """The service the app was created with."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_store(service: ServiceDep) -> JobStore:
    """The service's job store."""
    return service.store


StoreDep = Annotated[JobStore, Depends(get_store)]


def current_studio(request: Request, service: ServiceDep) -> str:
    """The studio behind the request's bearer token, or its token cookie.

    Without configured tokens every caller is the one local studio; with
    them a missing or unknown token answers 401. The Authorization header
    wins; the cookie counts only without one (so the dashboard's own
    EventSource and fetch calls are authorised).
    """
    return authenticate(service.settings.tokens, request.headers, request.cookies)


StudioDep = Annotated[str, Depends(current_studio)]


def visible_studio(service: Service, studio: str) -> str | None:
    """Whose jobs ``studio`` sees: its own with tokens configured; every studio's (None) without them, where the
    one local user has the whole store (jobs another service wrote with tokens included)."""
    return studio if service.settings.auth_required else None


def may_see(service: Service, studio: str, job: Job | None) -> bool:
    """True when ``job`` exists and ``studio`` may see it (see :func:`visible_studio`)."""
    return job is not None and visible_studio(service, studio) in (None, job.studio)


def owned_job(job_id: str, service: ServiceDep, studio: StudioDep) -> Job:
    """The job ``job_id`` if it exists and the caller may see it; 404 otherwise (another studio's job is not revealed)."""
    job = service.store.get(job_id)
    if not may_see(service, studio, job):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return job


OwnedJobDep = Annotated[Job, Depends(owned_job)]
