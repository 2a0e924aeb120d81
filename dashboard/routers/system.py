"""/healthz, /metrics and /api/cluster."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from farm.jobstate import JobState

from ..auth import presented_token, studio_of, token_matches, unauthorized

router = APIRouter(tags=["system"])


@router.get("/healthz", response_class=PlainTextResponse)
def healthz(request: Request) -> str:
    """'ok' while the store answers and the scheduler runs."""
    service = request.app.state.service
    service.store.counts()
    return "ok"


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the farm's metrics; with a metrics token configured it needs
    ``Authorization: Bearer <metrics token>`` (401 otherwise)."""
    expected = request.app.state.service.settings.metrics_token
    if expected is not None:
        token = presented_token(request.headers, {})
        if not token_matches(expected, token):
            raise unauthorized("/metrics needs the metrics token: send 'Authorization: Bearer <MIXFARM_METRICS_TOKEN>'")
    return Response(request.app.state.service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/cluster")
def cluster(request: Request, studio: str = Depends(studio_of)) -> dict:
    """The cluster's nodes and CPUs (total and busy), how many jobs the farm may run at once, and how many of
    the caller's jobs are running (other studios' jobs are not counted)."""
    service = request.app.state.service
    scheduler = service.scheduler
    running = service.store.list(studio=studio, state=JobState.RUNNING, limit=1)[1]
    return {**scheduler.cluster(), "jobs_running": running, "max_running": scheduler.capacity if scheduler.started else scheduler.max_running}
