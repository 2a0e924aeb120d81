"""One action on many jobs at once (``POST /api/jobs/bulk``): cancel, retry or a new priority, each job's outcome
told in the words the single-job endpoints use."""

from __future__ import annotations

from farm.errors import IllegalTransition, UnknownJob
from farm.queue.jobstore import Job
from farm.queue.state import JobState

from .deps import may_see
from .service import Service


def priority_refusal(job: Job) -> str | None:
    """Why ``job``'s priority cannot change, or None when it can."""
    if job.state is JobState.SUCCEEDED:
        return f"job {job.id!r} succeeded: it never runs again, so its priority cannot change"
    return None


def apply(service: Service, studio: str, action: str, job_id: str, priority: int | None = None) -> dict:
    """Do ``action`` (cancel, retry or priority) to one job for ``studio``; its outcome: ``{"id", "done", "state",
    "detail"}``, ``detail`` saying why not when it was not done. Another studio's job is not found, and untouched."""
    job = service.store.get(job_id)
    if not may_see(service, studio, job):
        return {"id": job_id, "done": False, "state": None, "detail": f"no job {job_id!r}"}
    try:
        if action == "cancel":
            job = service.scheduler.cancel(job_id)
        elif action == "retry":
            job = service.scheduler.retry(job_id)
        else:
            refusal = priority_refusal(job)
            if refusal is not None:
                return {"id": job_id, "done": False, "state": job.state.value, "detail": refusal}
            job = service.store.set_priority(job_id, priority)
    except UnknownJob:
        return {"id": job_id, "done": False, "state": None, "detail": f"no job {job_id!r}"}
    except IllegalTransition as exc:
        return {"id": job_id, "done": False, "state": service.store.get(job_id).state.value, "detail": str(exc)}
    return {"id": job_id, "done": True, "state": job.state.value, "detail": "done"}
