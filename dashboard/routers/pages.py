"""Dashboard pages: the queue, a job's detail, the cluster.

Server-rendered with Jinja2 (autoescaped); ``static/app.js`` keeps them live
from ``/api/events``. With API tokens configured a page needs the studio's
token once as ``?token=``: it is then kept in an HttpOnly cookie that
:func:`dashboard.deps.current_studio` accepts, so the page's own EventSource and
fetch calls are authorised too, and the browser is sent (303) to the same
address without the token. A link whose token is another studio's than the
cookie's does not switch silently: it shows a page asking to confirm, whose
form posts to ``/session`` (a same-origin POST, see :mod:`dashboard.guard`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from dashboard import analysis, listening, mastering, platforms
from dashboard.auth import TOKEN_COOKIE, authenticate, require_studio, studio_for_token
from dashboard.cluster_charts import history_charts
from dashboard.deps import ServiceDep, StoreDep, StudioDep, may_see, visible_studio
from dashboard.listing import JobFilterDep, listed, scoped
from dashboard.models import QueueSummary
from dashboard.service import Service
from dashboard.timeline import job_timelines
from dashboard.views import MAX_OFFSET, cluster_facts, job_view, output_url
from farm.queue.history import history
from farm.queue.jobstore import Job, JobStore
from farm.queue.listing import MAX_SEARCH_CHARS, SORTS, JobFilter
from farm.queue.state import JobState
from farm.storage import Location

router = APIRouter(include_in_schema=False)

DASHBOARD_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=DASHBOARD_DIR / "templates")
PAGE_SIZE = 25
MAX_PAGE = MAX_OFFSET // PAGE_SIZE
THROUGHPUT_MINUTES = 60


def format_duration(seconds: float | None) -> str:
    """``12 s``, ``4:05`` or ``1:02:03``; an em dash when unknown."""
    if not isinstance(seconds, (int, float)):
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 or seconds == 0 else f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def format_clock(timestamp_s: float | None) -> str:
    """Server-local ``HH:MM:SS`` today, ``YYYY-MM-DD HH:MM`` before; the page rewrites it in the browser's zone."""
    if timestamp_s is None:
        return "—"
    moment = time.localtime(timestamp_s)
    same_day = time.strftime("%Y%m%d", moment) == time.strftime("%Y%m%d")
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", moment)


def format_level(value: float | None, digits: int = 1) -> str:
    """A level or gain with ``digits`` decimals, ``-inf`` for silence (None in reports)."""
    if value is None:
        return "-inf"
    if not isinstance(value, (int, float)):
        return "—"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_bytes(count: float | None) -> str:
    """``812 B``, ``1.4 MB`` (powers of 1000)."""
    if not isinstance(count, (int, float)):
        return "—"
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


TEMPLATES.env.filters.update(duration=format_duration, clock=format_clock, level=format_level, size=format_bytes)


def job_timing(job: Job, now_s: float) -> dict:
    """Elapsed seconds, ETA and realtime factor (audio seconds per elapsed second) of a job; None where unknown, and
    no realtime factor for a job that failed or was cancelled (its rate says nothing of a render that ended).

    ``static/app.js`` computes the same for live updates.
    """
    if job.started_at is None or job.state is JobState.QUEUED:
        return {"elapsed_s": None, "eta_s": None, "realtime_factor": None}
    end_s = job.finished_at if job.state.is_final and job.finished_at else now_s
    elapsed_s = max(end_s - job.started_at, 0.0)
    running = job.state is JobState.RUNNING
    rendering = running or job.state is JobState.SUCCEEDED
    return {
        "elapsed_s": elapsed_s,
        "eta_s": elapsed_s * (1 - job.progress) / job.progress if running and job.progress > 0 else None,
        "realtime_factor": job.audio_s / elapsed_s if rendering and elapsed_s > 0 and job.audio_s > 0 else None,
    }


def row_view(job: Job, now_s: float) -> dict:
    """A queue row: the job's listed fields plus its timing."""
    return {
        "id": job.id,
        "name": job.name,
        "studio": job.studio,
        "state": job.state.value,
        "priority": job.priority,
        "progress": job.progress,
        "created_at": job.created_at,
        "started_at": job.started_at,
        **job_timing(job, now_s),
    }


BLANK_ROW = {"id": "", "name": "", "studio": "", "state": "queued", "priority": 0, "progress": 0.0, "created_at": None, "started_at": None, "elapsed_s": None, "eta_s": None, "realtime_factor": None, "queue_position": None}
"""The row that ``static/app.js`` clones and fills for a job that appears while the queue is open."""


def render_page(request: Request, service: Service, template: str, build: Callable[[str], dict]) -> Response:
    """``template`` filled by ``build(studio)``; an HTML error page for a 401 or 404 on the way.

    A page opened with ``?token=`` (tokens configured) only signs in: see :func:`sign_in_from_link`.
    """
    tokens = service.settings.tokens
    token = request.query_params.get("token")
    if token is not None and service.settings.auth_required:
        return sign_in_from_link(request, tokens, token)
    try:
        studio = authenticate(tokens, request.headers, request.cookies)
        context = build(studio)
    except HTTPException as exc:
        return error_page(request, exc)
    return TEMPLATES.TemplateResponse(request, template, {"studio": studio, **context})


def error_page(request: Request, exc: HTTPException) -> HTMLResponse:
    """The HTML page for an HTTP error on the way to a page."""
    return TEMPLATES.TemplateResponse(request, "error.html", {"status": exc.status_code, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def sign_in_from_link(request: Request, tokens: Mapping[str, str], token: str) -> Response:
    """Keep ``token`` in the cookie and send the browser (303) to the page's address without it.

    An unknown token answers the 401 page. When the browser is signed in as
    another studio already, nothing changes yet: a page asks whether to
    switch (a link from someone else must not move you into their studio).
    """
    try:
        offered = require_studio(tokens, token)
    except HTTPException as exc:
        return error_page(request, exc)
    target = request.url.remove_query_params("token")
    next_path = target.path + (f"?{target.query}" if target.query else "")
    current = studio_for_token(tokens, request.cookies.get(TOKEN_COOKIE, ""))
    if current is not None and current != offered:
        context = {"studio": current, "offered": offered, "token": token.strip(), "next": next_path}
        return TEMPLATES.TemplateResponse(request, "switch.html", context, headers={"Cache-Control": "no-store"})
    return signed_in(request, token, next_path)


def signed_in(request: Request, token: str, next_path: str) -> RedirectResponse:
    """A 303 to ``next_path`` setting the token cookie (``Secure`` when the page was served over HTTPS)."""
    response = RedirectResponse(next_path, status.HTTP_303_SEE_OTHER, headers={"Cache-Control": "no-store"})
    response.set_cookie(TOKEN_COOKIE, token.strip(), httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https")
    return response


def local_path(candidate: str) -> str:
    """``candidate`` if it is a path on this site (``/...``, not ``//host``), else ``/``."""
    return candidate if candidate.startswith("/") and not candidate.startswith(("//", "/\\")) else "/"


@router.post("/session")
def sign_in(request: Request, service: ServiceDep, token: str = Form(...), next_path: str = Form("/", alias="next")) -> Response:
    """Sign this browser in as ``token``'s studio (the form of the switch page), then go to ``next``."""
    try:
        require_studio(service.settings.tokens, token)
    except HTTPException as exc:
        return error_page(request, exc)
    return signed_in(request, token, local_path(next_path))


def studio_counts(store: JobStore, studio: str | None) -> dict[str, int]:
    """How many of the studio's jobs (every studio's for None) are in each state."""
    return {state.value: store.list(studio=studio, state=state, limit=1)[1] for state in JobState}


def listing_query(listing: JobFilter) -> list[tuple[str, str]]:
    """The query string parameters that ask for ``listing`` (the defaults left out), for the page's links."""
    pairs = [("q", listing.search), ("studio", listing.studio or ""), *(("state", state.value) for state in listing.states)]
    pairs += [("priority_min", "" if listing.priority_min is None else str(listing.priority_min))]
    pairs += [("priority_max", "" if listing.priority_max is None else str(listing.priority_max))]
    pairs += [("sort", "" if listing.sort == "newest" else listing.sort)]
    return [(key, value) for key, value in pairs if value]


@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request, service: ServiceDep, listing: JobFilterDep, page: int = Query(1, ge=1, le=MAX_PAGE)):
    """The studio's jobs that match the search and filters, newest first unless sorted otherwise, a page at a time,
    under the counts per state and the cluster's load, with a form to upload a bundle or a session folder."""

    def build(studio: str) -> dict:
        now_s = time.time()
        visible = visible_studio(service, studio)
        jobs, total = listed(service.store, scoped(listing, visible), PAGE_SIZE, (page - 1) * PAGE_SIZE)
        positions = service.store.queue_positions([job.id for job in jobs])
        query = listing_query(listing)
        return {
            "page_name": "queue",
            "rows": [{**row_view(job, now_s), "queue_position": positions.get(job.id)} for job in jobs],
            "blank_row": BLANK_ROW,
            "page_size": PAGE_SIZE,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "first_index": (page - 1) * PAGE_SIZE + 1 if jobs else 0,
            "last_index": (page - 1) * PAGE_SIZE + len(jobs),
            "listing": listing,
            "filtered": bool([key for key, _ in query if key != "sort"]),
            "query": urlencode(query),
            "states_query": urlencode([(key, value) for key, value in query if key != "state"]),
            "sorts": list(SORTS),
            "studios": service.store.studios() if visible is None else [visible],
            "max_search_chars": MAX_SEARCH_CHARS,
            "max_upload_bytes": service.settings.max_upload_bytes,
            "counts": studio_counts(service.store, visible),
            "cluster": cluster_facts(service, studio),
        }

    return render_page(request, service, "queue.html", build)


@router.get("/queue/summary", response_model=QueueSummary, response_model_exclude_unset=True)
def queue_summary(service: ServiceDep, store: StoreDep, studio: StudioDep, listing: JobFilterDep):
    """The queue page's header and how many jobs match its search and filters, refreshed by ``static/app.js`` after
    job events."""
    visible = visible_studio(service, studio)
    total = listed(store, scoped(listing, visible), 1, 0)[1]
    return {"counts": studio_counts(store, visible), "cluster": cluster_facts(service, studio), "total": total}


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, service: ServiceDep, job_id: str):
    """One job: state, error, progress, times, the loudness report, downloads with players and pass/fail badges, A/B
    listening, waveform and loudness plots, and what the import of a DAW project could not translate."""

    def build(studio: str) -> dict:
        job = service.store.get(job_id)
        if not may_see(service, studio, job):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
        report = job.report if isinstance(job.report, dict) else None
        urls = {item["name"]: item["url"] for item in job_view(service, job, request)["outputs"]}
        first_output = service.output_location(job, job.outputs[0]["name"]) if job.outputs else None
        mix = (report or {}).get("mix") if job.state is JobState.SUCCEEDED else None
        compared = {"mix": service.output_location(job, mix["path"]) if mix else None, "reference": reference_location(service, job)}
        facts = analysis.job_analysis(service.settings.data_dir, job, first_output, compared)
        target = (report or {}).get("target") or {}
        curves = mastering.match_curves(report) if report else {}
        songs = (report or {}).get("songs") or []
        mix_url = output_url(request, job.id, mix["path"]) if mix else None
        deliverables = [{**item, "url": urls.get(item.get("path"))} for item in (report or {}).get("deliverables", [])]
        return {
            "page_name": "job",
            "job": job,
            "error": service.job_error(job),
            "timing": job_timing(job, time.time()),
            "report": report,
            "target": target,
            "deliverables": [{**item, "badges": platforms.badges(item, report.get("target"))} for item in deliverables],
            "mix": {**mix, "url": mix_url} if mix else None,
            "ab": listening.ab_choices(report, urls, mix_url),
            "playable": listening.BROWSER_FORMATS,
            "platform_columns": platforms.columns(target),
            "outputs": [{**item, "url": urls[item["name"]]} for item in job.outputs],
            "analysis": facts,
            "waveform": analysis.waveform_chart(facts, target.get("true_peak_dbtp")) if facts else None,
            "spectrum": analysis.spectrum_chart({"master": facts["spectrum"], **facts["compared_spectra"]}) if facts else None,
            "loudness": analysis.loudness_chart(facts, target.get("integrated_lufs")) if facts else None,
            "imported": service.files.import_report(job.id),
            "match_chart": mastering.match_chart(curves) if curves else None,
            "songs": songs,
            "sequence": mastering.sequence_chart(songs, report.get("duration_s", 0.0)) if songs else None,
            "tasks": job_timelines(service, job),
        }

    return render_page(request, service, "job.html", build)


def reference_location(service: Service, job: Job) -> Location | None:
    """Where the reference a job's master was matched to lies in its bundle; None without matching, or when the
    session named it by a path that leaves the bundle."""
    match = (job.report or {}).get("match") if isinstance(job.report, dict) else None
    if not match or not isinstance(match.get("reference"), str):
        return None
    try:
        return service.files.bundle(job.id).resolve_inside(match["reference"])
    except ValueError:
        return None


@router.get("/cluster", response_class=HTMLResponse)
def cluster_page(request: Request, service: ServiceDep, window: Literal["hour", "day", "week"] = Query("hour")):
    """The cluster's nodes and load, the studio's throughput per minute over the last hour, and the farm's history
    over the last ``window``."""

    def build(studio: str) -> dict:
        now_s = time.time()
        samples = history(service.store, window, studio if service.settings.auth_required else None, now_s)
        rows = studio_finished_since(service, studio, now_s - THROUGHPUT_MINUTES * 60)
        per_minute = analysis.throughput(rows, now_s, THROUGHPUT_MINUTES)
        start_s = now_s - THROUGHPUT_MINUTES * 60
        minutes = [format_clock(start_s + 60 * i)[:5] for i in range(THROUGHPUT_MINUTES)]
        audio_titles = [f"{label}: {format_duration(seconds)} of audio" for label, seconds in zip(minutes, per_minute["audio_s"])]
        job_titles = [
            f"{label}: {ok} succeeded, {failed} failed, {cancelled} cancelled"
            for label, ok, failed, cancelled in zip(minutes, per_minute["succeeded"], per_minute["failed"], per_minute["cancelled"])
        ]
        return {
            "page_name": "cluster",
            "cluster": cluster_facts(service, studio),
            "throughput": per_minute,
            "audio_chart": analysis.bar_chart([per_minute["audio_s"]], audio_titles),
            "jobs_chart": analysis.bar_chart([per_minute["succeeded"], per_minute["failed"], per_minute["cancelled"]], job_titles, whole=True),
            "axis": [{"x": 800 * k / 4, "label": f"−{THROUGHPUT_MINUTES - k * THROUGHPUT_MINUTES // 4} min" if k < 4 else "now"} for k in range(5)],
            "history": samples,
            "charts": history_charts(samples, format_bytes),
        }

    return render_page(request, service, "cluster.html", build)


def studio_finished_since(service: Service, studio: str, since_s: float) -> list[tuple[float, float, str]]:
    """(finished_at, audio seconds, state) of the studio's jobs that ended after ``since_s``, oldest first.

    Without tokens every job is the one local studio's.
    """
    return service.store.finished_since(since_s, studio if service.settings.auth_required else None)

