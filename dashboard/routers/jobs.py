"""/api/jobs: submit, list, inspect, cancel, retry, download."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse

from farm.bundle import BundleError, BundleTooLarge
from farm.errors import SessionError
from farm.jobfiles import StorageError
from farm.jobstate import IllegalTransition, JobState
from farm.store import Job

from ..auth import studio_of
from ..downloads import file_response
from ..failures import storage_failure
from ..service import QuotaExceeded, Service

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

MAX_OFFSET = 10**9
"""The furthest a listing may page (jobs skipped)."""


def service_of(request: Request) -> Service:
    return request.app.state.service


def job_view(job: Job, request: Request, with_report: bool = True) -> dict:
    """A job as the API shows it, with download URLs for its outputs."""
    fields = service_of(request).public_fields(job, with_report)
    fields["outputs"] = [{**item, "url": output_url(request, job.id, item["name"])} for item in job.outputs]
    return fields


def output_url(request: Request, job_id: str, name: str) -> str:
    """The download URL of a job's output ``name``, every path segment percent-encoded (so ``#``, ``?`` and ``%`` survive)."""
    segments = "/".join(quote(segment, safe="") for segment in name.split("/"))
    return str(request.url_for("download_output", job_id=quote(job_id, safe=""), name=segments))


def owned_job(job_id: str, request: Request, studio: str) -> Job:
    """The job if it exists and belongs to ``studio``; 404 otherwise (another studio's job is not revealed)."""
    job = service_of(request).store.get(job_id)
    if job is None or job.studio != studio:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return job


@router.post("", status_code=status.HTTP_201_CREATED)
def submit_job(
    request: Request,
    bundle: UploadFile = File(..., description="a zip with session.yaml or session.json at its root and the files it names"),
    priority: int = Form(0, ge=-(2**31), le=2**31 - 1, description="higher runs first"),
    name: str | None = Form(None, description="the job's name (default: the session's)"),
    studio: str = Depends(studio_of),
):
    """Queue a render of an uploaded session bundle."""
    service = service_of(request)
    limit = service.settings.max_upload_bytes
    if bundle.size is not None and bundle.size > limit:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"bundle: {bundle.size} bytes is over the upload limit of {limit} bytes")
    try:
        job = service.submit(bundle.file, studio, name, priority)
    except (BundleTooLarge, QuotaExceeded) as exc:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc)) from None
    except BundleError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except SessionError as exc:
        return JSONResponse({"detail": "invalid session", "problems": exc.problems}, status_code=status.HTTP_422_UNPROCESSABLE_ENTITY)
    except StorageError as exc:
        raise storage_failure(exc, "job storage", service.public_text(str(exc))) from None
    except OSError as exc:
        raise storage_failure(exc, "uploads folder") from None
    return job_view(job, request)


@router.get("")
def list_jobs(
    request: Request,
    state: JobState | None = Query(None, description="only jobs in this state"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    studio: str = Depends(studio_of),
):
    """The studio's jobs, newest first."""
    jobs, total = service_of(request).store.list(studio=studio, state=state, limit=limit, offset=offset)
    return {"jobs": [job_view(job, request, with_report=False) for job in jobs], "total": total, "limit": limit, "offset": offset}


@router.get("/{job_id}")
def get_job(job_id: str, request: Request, studio: str = Depends(studio_of)):
    """One job with its progress, outputs and report."""
    return job_view(owned_job(job_id, request, studio), request)


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, request: Request, studio: str = Depends(studio_of)):
    """Cancel a queued job, or stop a running one."""
    owned_job(job_id, request, studio)
    try:
        job = service_of(request).scheduler.cancel(job_id)
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return job_view(job, request)


@router.post("/{job_id}/retry")
def retry_job(job_id: str, request: Request, studio: str = Depends(studio_of)):
    """Queue a failed or cancelled job again."""
    owned_job(job_id, request, studio)
    try:
        job = service_of(request).scheduler.retry(job_id)
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return job_view(job, request)


@router.get("/{job_id}/outputs/{name:path}", name="download_output")
def download_output(job_id: str, name: str, request: Request, studio: str = Depends(studio_of)):
    """Download one deliverable of a succeeded job (410 if it has gone from storage since, 503 if storage fails)."""
    job = owned_job(job_id, request, studio)
    location = service_of(request).output_location(job, name)
    if location is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} has no output {name!r}" + ("" if job.state is JobState.SUCCEEDED else f" (it is {job.state.value})"))
    try:
        return file_response(location)
    except FileNotFoundError:
        raise HTTPException(status.HTTP_410_GONE, f"job {job_id!r}: output {name!r} is no longer in storage") from None
    except Exception as exc:  # noqa: BLE001 - whatever the storage backend raises, the answer is the same
        reason = service_of(request).public_text(f"{type(exc).__name__}: {exc}", service_of(request).files.out(job_id))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"job {job_id!r}: output {name!r} cannot be read from storage ({reason})") from None


@router.get("/{job_id}/report")
def get_report(job_id: str, request: Request, studio: str = Depends(studio_of)):
    """The render report of a succeeded job."""
    job = owned_job(job_id, request, studio)
    if job.report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} has no report yet (it is {job.state.value})")
    return job.report
