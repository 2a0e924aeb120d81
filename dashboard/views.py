"""What the API and the pages both show: a job with its download URLs, the cluster as a studio sees it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request

from farm.queue.jobstore import Job
from farm.queue.state import JobState

from .service import Service

MAX_OFFSET = 10**9
"""The furthest a listing of jobs (the API's or the queue page's) may page (jobs skipped)."""


def job_view(service: Service, job: Job, request: Request, with_report: bool = True) -> dict:
    """A job as the API shows it, with download URLs for its outputs."""
    fields = service.public_fields(job, with_report)
    fields["outputs"] = [{**item, "url": output_url(request, job.id, item["name"])} for item in job.outputs]
    return fields


def output_url(request: Request, job_id: str, name: str) -> str:
    """The download URL of a job's output ``name``, every path segment percent-encoded (so ``#``, ``?`` and ``%`` survive)."""
    segments = "/".join(quote(segment, safe="") for segment in name.split("/"))
    return str(request.url_for("download_output", job_id=quote(job_id, safe=""), name=segments))


def cluster_facts(service: Service, studio: str) -> dict:
    """The cluster's nodes and CPUs (total and busy), how many jobs the farm may run at once, and how many of
    ``studio``'s jobs are running (other studios' jobs are not counted)."""
    scheduler = service.scheduler
    running = service.store.list(studio=studio, state=JobState.RUNNING, limit=1)[1]
    return {**scheduler.cluster(), "jobs_running": running, "max_running": scheduler.capacity if scheduler.started else scheduler.max_running}
