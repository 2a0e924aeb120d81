"""The shapes of the API's JSON answers, as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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
    audio_s: float = Field(description="seconds of audio rendered")
    duration_s: float = Field(description="the session's length in seconds")
    outputs: list[Output]
    error: str | None = Field(description="why it failed, was cancelled or was queued again")
    cancel_requested: bool
    bundle_bytes: int = Field(description="what its bundle unpacked to, counted against the studio's quota")
    interruptions: int = Field(description="how often the service or the render driver died while it ran")


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
