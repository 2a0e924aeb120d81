"""/healthz, /metrics and /api/cluster."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..auth import studio_of

router = APIRouter(tags=["system"])


@router.get("/healthz", response_class=PlainTextResponse)
def healthz(request: Request) -> str:
    """'ok' while the store answers and the scheduler runs."""
    service = request.app.state.service
    service.store.counts()
    return "ok"


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the farm's metrics."""
    return Response(request.app.state.service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/cluster")
def cluster(request: Request, studio: str = Depends(studio_of)) -> dict:
    """The cluster's nodes and CPUs (total and busy), and the jobs running."""
    service = request.app.state.service
    scheduler = service.scheduler
    return {**scheduler.cluster(), "jobs_running": scheduler.running, "max_running": scheduler.capacity if scheduler.started else scheduler.max_running}
