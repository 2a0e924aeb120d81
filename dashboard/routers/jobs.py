"""/api/jobs: submit, list, inspect, change, cancel, retry, download."""

from __future__ import annotations

import time

from fastapi import (
    APIRouter,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from dashboard.archive import ArchiveTooLarge, checked_files, zip_stream
from dashboard.bulk import apply, priority_refusal
from dashboard.deps import OwnedJobDep, ServiceDep, StoreDep, StudioDep, visible_studio
from dashboard.downloads import file_response
from dashboard.errors import QuotaExceeded
from dashboard.failures import storage_failure
from dashboard.listing import JobFilterDep, listed, scoped
from dashboard.models import (
    UNAUTHORIZED,
    BulkAction,
    BulkResult,
    JobChange,
    JobDetail,
    JobPage,
    Report,
    SessionProblems,
    TaskTimeline,
    refusal,
)
from dashboard.timeline import NoSuchAttempt, attempt_timeline
from dashboard.views import MAX_OFFSET, job_view
from farm.errors import (
    BundleError,
    BundleTooLarge,
    DependencyError,
    IllegalTransition,
    SessionError,
    StorageError,
)
from farm.queue.jobstore import MAX_AFTER
from farm.queue.state import JobState

JOB_ID_CHARS = 16
MAX_NAME_CHARS = 200
MAX_ATTEMPT = 10**6
"""The highest attempt number a request may name."""

NOT_FOUND = refusal(404, "no such job of the caller's studio")
CONFLICT = refusal(409, "the job is in a state that does not allow it")

router = APIRouter(prefix="/api/jobs", tags=["jobs"], responses=UNAUTHORIZED)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobDetail,
    responses={
        **refusal(400, "an unsafe or broken zip"),
        **refusal(413, "over the upload limit or the unpacked limit"),
        422: {"model": SessionProblems, "description": "an invalid session, a job in 'after' it cannot wait for (or an invalid form: FastAPI's validation error)"},
        **refusal(429, "the studio is at its max_queued or its quota_mb"),
        **refusal(503, "the uploads folder or the storage cannot be written"),
        **refusal(507, "the disk is full"),
    },
)
def submit_job(
    request: Request,
    service: ServiceDep,
    studio: StudioDep,
    bundle: UploadFile = File(
        ..., description="a zip with session.yaml or session.json at its root and the files it names, or a DAW project (.dawproject, .rpp, .aaf) and its media"
    ),
    priority: int = Form(0, ge=-(2**31), le=2**31 - 1, description="higher runs first"),
    name: str | None = Form(None, max_length=MAX_NAME_CHARS, description="the job's name (default: the session's)"),
    after: str | None = Form(
        None, max_length=MAX_AFTER * (JOB_ID_CHARS + 1), description=f"comma-separated ids of the studio's jobs this one waits for (at most {MAX_AFTER}): it runs once they all succeeded, and fails if one fails or is cancelled"
    ),
):
    """Queue a render of an uploaded session bundle."""
    limit = service.settings.max_upload_bytes
    if bundle.size is not None and bundle.size > limit:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"bundle: {bundle.size} bytes is over the upload limit of {limit} bytes")
    waits_for = [part.strip() for part in (after or "").split(",") if part.strip()]
    try:
        job = service.submit(bundle.file, studio, name, priority, waits_for)
    except QuotaExceeded as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from None
    except DependencyError as exc:
        raise HTTPException(422, str(exc)) from None
    except BundleTooLarge as exc:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc)) from None
    except BundleError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except SessionError as exc:
        problems = SessionProblems(detail="invalid session", problems=exc.problems)
        return JSONResponse(problems.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_ENTITY)
    except StorageError as exc:
        raise storage_failure(exc, "job storage", service.public_text(str(exc))) from None
    except OSError as exc:
        raise storage_failure(exc, "uploads folder") from None
    return job_view(service, job, request)


@router.get("", response_model=JobPage)
def list_jobs(
    request: Request,
    service: ServiceDep,
    store: StoreDep,
    studio: StudioDep,
    listing: JobFilterDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
):
    """The studio's jobs (every studio's without API tokens) that match the search and filters, newest first unless
    ``sort`` says otherwise; queued ones with their queue position."""
    jobs, total = listed(store, scoped(listing, visible_studio(service, studio)), limit, offset)
    positions = store.queue_positions([job.id for job in jobs])
    listed_jobs = [{**job_view(service, job, request, with_report=False), "queue_position": positions.get(job.id)} for job in jobs]
    return {"jobs": listed_jobs, "total": total, "limit": limit, "offset": offset}


@router.post("/bulk", response_model=BulkResult, responses=refusal(422, "an unknown action, no ids or too many, or a priority missing or out of place"))
def bulk_action(action: BulkAction, service: ServiceDep, studio: StudioDep):
    """Cancel, retry or change the priority of many jobs at once; each job's outcome, in the order of ``ids``.

    A job is done or not on its own, for the reason its single-job endpoint
    would give (a succeeded job cannot be cancelled, ...); a job of another
    studio, like a missing one, is not found and left untouched.
    """
    results = [apply(service, studio, action.action, job_id, action.priority) for job_id in dict.fromkeys(action.ids)]
    service.scheduler.wake()
    return {"results": results, "done": sum(result["done"] for result in results)}


@router.get("/{job_id}", response_model=JobDetail, responses=NOT_FOUND)
def get_job(job: OwnedJobDep, request: Request, service: ServiceDep):
    """One job with its progress, outputs and report; a queued one with its queue position."""
    return {**job_view(service, job, request), "queue_position": service.store.queue_positions([job.id]).get(job.id)}


@router.patch("/{job_id}", response_model=JobDetail, responses={**NOT_FOUND, **CONFLICT})
def change_job(job: OwnedJobDep, change: JobChange, request: Request, service: ServiceDep):
    """Change a job's priority: among its studio's queued jobs, a higher one is claimed first (409 for a succeeded job)."""
    refused = priority_refusal(job)
    if refused is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, refused)
    changed = service.store.set_priority(job.id, change.priority)
    service.scheduler.wake()
    return job_view(service, changed, request)


@router.post("/{job_id}/cancel", response_model=JobDetail, responses={**NOT_FOUND, **CONFLICT})
def cancel_job(job: OwnedJobDep, request: Request, service: ServiceDep):
    """Cancel a queued job, or stop a running one."""
    try:
        cancelled = service.scheduler.cancel(job.id)
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return job_view(service, cancelled, request)


@router.post("/{job_id}/retry", response_model=JobDetail, responses={**NOT_FOUND, **CONFLICT})
def retry_job(job: OwnedJobDep, request: Request, service: ServiceDep):
    """Queue a failed or cancelled job again."""
    try:
        retried = service.scheduler.retry(job.id)
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return job_view(service, retried, request)


@router.get(
    "/{job_id}/outputs/{name:path}",
    name="download_output",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "description": "the file, as an attachment"},
        206: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}, "description": "the byte range the Range header asked for"},
        **refusal(400, "a Range header that is no byte range"),
        416: {"description": "a Range that starts past the end of the file (Content-Range: bytes */size)"},
        **refusal(404, "no such job, or it has no such output"),
        **refusal(410, "the output has gone from storage"),
        **refusal(503, "the storage cannot be read"),
    },
)
def download_output(job: OwnedJobDep, name: str, service: ServiceDep, request: Request):
    """Download one deliverable of a succeeded job, or the byte range a Range header asks for (206; 416 past its end);
    410 if it has gone from storage since, 503 if storage fails."""
    location = service.output_location(job, name)
    if location is not None and job.purged_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(job.purged_at))
        raise HTTPException(status.HTTP_410_GONE, f"job {job.id!r}: its files were removed by the retention policy at {when}; its record and report are kept")
    if location is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job.id!r} has no output {name!r}" + ("" if job.state is JobState.SUCCEEDED else f" (it is {job.state.value})"))
    try:
        return file_response(location, request.headers.get("range"), request.headers.get("if-range"))
    except FileNotFoundError:
        raise HTTPException(status.HTTP_410_GONE, f"job {job.id!r}: output {name!r} is no longer in storage") from None
    except Exception as exc:  # noqa: BLE001 - whatever the storage backend raises, the answer is the same
        reason = service.public_text(f"{type(exc).__name__}: {exc}", service.files.out(job.id))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"job {job.id!r}: output {name!r} cannot be read from storage ({reason})") from None


@router.get(
    "/{job_id}/archive",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}, "description": "every file of the job and report.json, as one zip"},
        **refusal(404, "no such job, or it has no files (it has not succeeded)"),
        **refusal(410, "a file has gone from storage"),
        **refusal(413, "the files are too many or too large for one archive"),
        **refusal(503, "the storage cannot be read"),
    },
)
def download_archive(job: OwnedJobDep, service: ServiceDep):
    """Download all of a succeeded job's files (its deliverables, the copy of its mix bus) and report.json as one zip,
    made as it is sent; audio goes in stored, as it is."""
    if job.state is not JobState.SUCCEEDED:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job.id!r} has no files (it is {job.state.value})")
    if job.purged_at is not None:
        raise HTTPException(status.HTTP_410_GONE, f"job {job.id!r}: its files were removed by the retention policy; its record and report are kept")
    try:
        files = checked_files([(name, service.output_location(job, name)) for name in service.output_names(job)])
    except ArchiveTooLarge as exc:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"job {job.id!r}: {exc}; download its files one by one") from None
    except FileNotFoundError as exc:
        raise HTTPException(status.HTTP_410_GONE, f"job {job.id!r}: {exc.args[0]!r} is no longer in storage") from None
    except Exception as exc:  # noqa: BLE001 - whatever the storage backend raises, the answer is the same
        reason = service.public_text(f"{type(exc).__name__}: {exc}", service.files.out(job.id))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"job {job.id!r}: its files cannot be read from storage ({reason})") from None
    headers = {"Content-Disposition": f'attachment; filename="mixfarm-{job.id}.zip"'}
    return StreamingResponse(zip_stream(files, job.report), media_type="application/zip", headers=headers)


@router.get("/{job_id}/report", response_model=Report, responses=refusal(404, "no such job, or it has no report yet"))
def get_report(job: OwnedJobDep):
    """The render report of a succeeded job."""
    if job.report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job.id!r} has no report yet (it is {job.state.value})")
    return job.report


@router.get("/{job_id}/tasks", response_model=TaskTimeline, responses=refusal(404, "no such job, or it has no such attempt"))
def get_tasks(
    job: OwnedJobDep,
    service: ServiceDep,
    attempt: int | None = Query(None, ge=1, le=MAX_ATTEMPT, description="the attempt's number, from 1 as in attempt_history (default: the latest)"),
):
    """One attempt's task timeline: every task that finished (where and when it ran, for how long, its stage, strip
    and chunk), each stage's span, and the task that failed the attempt with the tail of its traceback."""
    try:
        return attempt_timeline(service, job, attempt)
    except NoSuchAttempt as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
