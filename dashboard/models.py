"""The shapes of the API's JSON answers, as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from farm.queue.state import JobState

Report = dict[str, Any]
"""A render report: the loudness of the mix and the master, the target, the deliverables (free-form)."""


class Output(BaseModel):
    """One deliverable of a succeeded job."""

    name: str = Field(description="its path inside the job's outputs")
    format: str = Field(description="wav, flac, ...")
    bytes: int = Field(description="its size")
    url: str = Field(description="where to download it (each path segment percent-encoded)")


class JobSummary(BaseModel):
    """A job as listed: everything but its report."""

    id: str
    name: str
    studio: str
    priority: int = Field(description="higher runs first")
    state: JobState
    attempts: int = Field(description="render attempts made so far")
    created_at: float = Field(description="Unix seconds")
    started_at: float | None = Field(description="Unix seconds; null before it first ran")
    finished_at: float | None = Field(description="Unix seconds; null until it ends")
    progress: float = Field(description="0..1")
    stage: str = Field(description="what a running job's render is doing, in words (e.g. 'loudness pass 2'); empty otherwise")
    audio_s: float = Field(description="seconds of audio rendered")
    duration_s: float = Field(description="the session's length in seconds")
    outputs: list[Output]
    error: str | None = Field(description="why it failed, was cancelled or was queued again")
    cancel_requested: bool
    bundle_bytes: int = Field(description="what its bundle unpacked to, counted against the studio's quota (0 once its files were removed)")
    interruptions: int = Field(description="how often the service or the render driver died while it ran")
    cpu_s: float = Field(description="CPU seconds its render tasks took, every attempt together")
    after: list[str] = Field(description="the ids of the jobs it waits for (it runs once they all succeeded)")
    purged_at: float | None = Field(description="Unix seconds its files were removed by the retention policy; null while they are kept")
    queue_position: int | None = Field(
        None, description="a queued job's place among its studio's queued jobs in the order they run (1: next); null for any other"
    )


class TaskFailure(BaseModel):
    """The render task that failed an attempt."""

    task: str = Field(description="its kind: tracks, bus, mix, match, master or deliver")
    strip: str | None = Field(description="the track group or bus it rendered (master for the mix bus)")
    tracks: list[str] | None = Field(description="a track group's tracks")
    chunk: dict[str, float] | None = Field(description="the chunk: start_frame, stop_frame, start_s, stop_s")
    node: str = Field(description="the cluster node it ran on")
    host: str = Field(description="that node's host name")
    traceback: str = Field(description="the last lines of its traceback")
    started_at: float | None = Field(None, description="Unix seconds it started")
    seconds: float | None = Field(None, description="how long it ran before it failed")


class AttemptRecord(BaseModel):
    """One attempt at a job, as recorded when it ended."""

    number: int
    started_at: float | None = Field(description="Unix seconds")
    ended_at: float = Field(description="Unix seconds")
    outcome: str = Field(description="succeeded, failed, cancelled, requeued (to be tried again) or interrupted (its driver or the service died)")
    cpu_s: float = Field(description="CPU seconds its tasks took")
    audio_s: float = Field(description="seconds of audio it delivered")
    error: str | None
    failure: TaskFailure | None = Field(description="the task that failed it, when a task did")


class TaskRecord(BaseModel):
    """One render task that finished."""

    kind: str = Field(description="reference, tracks, bus, mix, match, master or deliver")
    stage: str = Field(description="prepare, mix, match, loudness or deliver")
    node: str = Field(description="the cluster node it ran on")
    started_at: float = Field(description="Unix seconds")
    seconds: float = Field(description="how long it ran")
    strip: str | None = Field(description="the track group or bus it rendered (master for the mix bus)")
    start_frame: int | None = Field(description="its chunk's first frame, at the render's sample rate")
    stop_frame: int | None = Field(description="the frame after its chunk's last")
    loudness_pass: int | None = Field(description="the loudness stage's pass it belongs to, counted over the render from 1")
    output: str | None = Field(description="the deliverable a deliver task wrote a chunk of")


class StageSpan(BaseModel):
    """A stage of an attempt (each loudness pass apart): from its first task's start to its last task's end."""

    stage: str
    loudness_pass: int | None
    started_at: float = Field(description="Unix seconds")
    ended_at: float = Field(description="Unix seconds")
    seconds: float
    tasks: int


class TaskTimeline(BaseModel):
    """One attempt at a job: its tasks on the cluster's nodes over time, its stages, and the task that failed it."""

    job_id: str
    attempt: int = Field(description="the attempt's number, from 1, in the order of attempt_history")
    attempts: int = Field(description="the job's attempts so far, the one running included")
    outcome: str = Field(description="as in attempt_history, or running")
    started_at: float | None = Field(description="Unix seconds")
    ended_at: float | None = Field(description="Unix seconds; null while it runs")
    error: str | None
    failure: TaskFailure | None = Field(description="the task that failed it, when a task did")
    sample_rate: int | None = Field(description="the render's sample rate in Hz, for the chunks' frames")
    finished: int = Field(description="tasks that finished, whether listed or not")
    capped: bool = Field(description="true when more tasks finished than an attempt keeps (max_tasks): the first ones are listed")
    max_tasks: int = Field(description="the most tasks an attempt keeps")
    stages: list[StageSpan]
    tasks: list[TaskRecord] = Field(description="first started first")


class WebhookDelivery(BaseModel):
    """A webhook call owed for the job."""

    id: int = Field(description="the X-Mixfarm-Delivery id")
    event: str
    created_at: float
    attempts: int = Field(description="calls made so far")
    next_at: float = Field(description="Unix seconds of the next call, while it is neither delivered nor given up")
    delivered_at: float | None
    gave_up_at: float | None
    last_error: str | None


class ImportFinding(BaseModel):
    """Something of a DAW project that its session lacks (a loss) or left out without changing the sound (a note)."""

    where: str = Field(description="the strip it was on, master, or project")
    element: str = Field(description="where in the project file")
    what: str
    why: str


class ImportReport(BaseModel):
    """What the import of a DAW project found and could not translate."""

    project: str = Field(description="the project file's name")
    format: str = Field(description="dawproject, reaper or aaf")
    application: str = Field(description="the application that wrote it, as the project says")
    tracks: int
    buses: int
    clips: int
    losses: list[ImportFinding] = Field(description="what renders differently from the project, or is missing")
    notes: list[ImportFinding] = Field(description="what was left out without changing the sound")


class JobDetail(JobSummary):
    """A job with its render report, and the import report when it was sent as a DAW project."""

    report: Report | None = Field(description="the render report once it succeeded")
    import_report: ImportReport | None = Field(None, description="the project import's report, when the bundle held a DAW project")
    attempt_history: list[AttemptRecord] = Field([], description="every attempt that ended, first first")
    webhooks: list[WebhookDelivery] = Field([], description="the webhook calls owed for it")


class JobChange(BaseModel):
    """What ``PATCH /api/jobs/{id}`` may change."""

    model_config = {"extra": "forbid"}

    priority: int = Field(ge=-(2**31), le=2**31 - 1, description="higher runs first, among the studio's jobs")


MAX_BULK_JOBS = 500
"""The most jobs one bulk request may name."""

JobId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class BulkAction(BaseModel):
    """What ``POST /api/jobs/bulk`` does, to which jobs."""

    model_config = {"extra": "forbid"}

    action: Literal["cancel", "retry", "priority"]
    ids: list[JobId] = Field(min_length=1, max_length=MAX_BULK_JOBS, description=f"the jobs, at most {MAX_BULK_JOBS} (repeats count once)")
    priority: int | None = Field(None, ge=-(2**31), le=2**31 - 1, description="the new priority: required for 'priority', refused otherwise")

    @model_validator(mode="after")
    def priority_goes_with_its_action(self) -> BulkAction:
        if (self.action == "priority") != (self.priority is not None):
            raise ValueError("priority: required with action 'priority' and only with it")
        return self


class BulkOutcome(BaseModel):
    """What became of one job of a bulk action."""

    id: str
    done: bool
    state: JobState | None = Field(description="the job's state after it; null for a job not found")
    detail: str = Field(description="'done', or why not")


class BulkResult(BaseModel):
    """Each job's outcome, in the order of the request's ids."""

    results: list[BulkOutcome]
    done: int = Field(description="how many were done")


class UsageDay(BaseModel):
    """One studio's use on one UTC day."""

    day: str = Field(description="YYYY-MM-DD, UTC")
    studio: str
    jobs: int = Field(description="jobs with an attempt that ended that day")
    attempts: int
    cpu_s: float = Field(description="CPU seconds of render tasks")
    audio_s: float = Field(description="seconds of audio delivered")


class UsageTotal(BaseModel):
    """The use of the whole span."""

    jobs: int
    attempts: int
    cpu_s: float
    audio_s: float


class Usage(BaseModel):
    """What the caller's studio used between ``from`` and ``to``: attempts count on the UTC day they ended."""

    from_: float = Field(alias="from", description="Unix seconds, inclusive")
    to: float = Field(description="Unix seconds, exclusive")
    studio: str | None
    days: list[UsageDay]
    total: UsageTotal


class JobPage(BaseModel):
    """One page of the studio's jobs, newest first."""

    jobs: list[JobSummary]
    total: int = Field(description="the studio's jobs matching the filter, on every page")
    limit: int
    offset: int


class Node(BaseModel):
    """One node of the cluster."""

    id: str
    address: str | None = None
    alive: bool
    cpus: int | float
    cpus_busy: int | float | None = Field(None, description="CPUs held by tasks on it; null where unknown")


class ClusterSample(BaseModel):
    """The farm at one moment (a mean over the sample's span; finished is a sum)."""

    at: float = Field(description="Unix seconds the sample's span starts")
    queued: float = Field(description="the caller's jobs waiting in the queue")
    running: float = Field(description="the caller's jobs rendering")
    finished: int = Field(description="the caller's jobs that ended during the span")
    cpus: float
    cpus_busy: float


class NodeSample(BaseModel):
    """One node at one moment."""

    at: float = Field(description="Unix seconds the sample's span starts")
    cpus: float
    cpus_busy: float | None = Field(description="CPUs held by tasks (each render task holds one, so also its tasks running); null where unknown")
    memory_used_bytes: float | None = Field(description="memory in use, as its tasks last reported it; null while it ran none")
    tasks_finished: int = Field(description="tasks that finished on it during the span")


class NodeHistory(BaseModel):
    """One node's samples."""

    id: str
    short_id: str = Field(description="the id's first 8 characters, as the dashboard shows it")
    address: str | None
    samples: list[NodeSample]


class ClusterHistory(BaseModel):
    """The service's own samples of the farm over the last hour, day or week, oldest first."""

    window: str = Field(description="hour, day or week")
    resolution_s: int = Field(description="seconds each sample spans: 5 for the hour, 60 for the day, 900 for the week")
    from_: float = Field(alias="from", description="Unix seconds")
    to: float = Field(description="Unix seconds")
    samples: list[ClusterSample]
    nodes: list[NodeHistory]


class Cluster(BaseModel):
    """The cluster's nodes and CPUs and what the farm runs on it."""

    nodes: list[Node]
    cpus: int | float = Field(description="CPUs in total")
    cpus_busy: int | float = Field(description="CPUs in use")
    jobs_running: int = Field(description="the caller's jobs rendering now")
    max_running: int | None = Field(description="how many jobs the farm renders at once")


class QueueSummary(BaseModel):
    """The queue page's header: the studio's jobs per state and the cluster."""

    counts: dict[str, int]
    cluster: Cluster
    total: int = Field(description="the jobs matching the page's search and filters")


class ErrorDetail(BaseModel):
    """Why a request was refused."""

    detail: str


def refusal(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses`` entry: ``status`` answers an :class:`ErrorDetail`, meaning ``description``."""
    return {status: {"model": ErrorDetail, "description": description}}


UNAUTHORIZED = refusal(401, "missing or unknown API token")


class SessionProblems(BaseModel):
    """An uploaded session that is not valid, with each problem naming its field."""

    detail: str = Field(description="'invalid session'")
    problems: list[str]
