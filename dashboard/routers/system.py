"""/healthz, /metrics, /api/cluster, /api/cluster/history and /favicon.ico."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from dashboard.assets import static_url
from dashboard.auth import presented_token, token_matches, unauthorized
from dashboard.deps import ServiceDep, StoreDep, StudioDep
from dashboard.models import UNAUTHORIZED, Cluster, ClusterHistory, refusal
from dashboard.views import cluster_facts
from farm.queue.history import history

router = APIRouter(tags=["system"])


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> RedirectResponse:
    """Browsers ask for /favicon.ico whatever a page links: send them to the dashboard's icon."""
    return RedirectResponse(static_url("favicon.svg"), status_code=308)


@router.get("/healthz", response_class=PlainTextResponse)
def healthz(store: StoreDep) -> str:
    """'ok' while the store answers and the scheduler runs."""
    store.counts()
    return "ok"


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}, "description": "the Prometheus text exposition"},
        **refusal(401, "the metrics token is set and was not sent"),
    },
)
def metrics(request: Request, service: ServiceDep) -> Response:
    """Prometheus text exposition of the farm's metrics; with a metrics token configured it needs
    ``Authorization: Bearer <metrics token>`` (401 otherwise)."""
    expected = service.settings.metrics_token
    if expected is not None:
        token = presented_token(request.headers, {})
        if not token_matches(expected, token):
            raise unauthorized("/metrics needs the metrics token: send 'Authorization: Bearer <MIXFARM_METRICS_TOKEN>'")
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/cluster", response_model=Cluster, response_model_exclude_unset=True, responses=UNAUTHORIZED)
def cluster(service: ServiceDep, studio: StudioDep):
    """The cluster's nodes and CPUs (total and busy), how many jobs the farm may run at once, and how many of
    the caller's jobs are running (other studios' jobs are not counted)."""
    return cluster_facts(service, studio)


@router.get("/api/cluster/history", response_model=ClusterHistory, response_model_by_alias=True, responses=UNAUTHORIZED)
def cluster_history(service: ServiceDep, studio: StudioDep, window: Literal["hour", "day", "week"] = Query("hour", description="hour, day or week")):
    """The service's samples of the farm (CPUs; the caller's jobs queued, running and finished) and of each node (CPUs
    busy, memory in use, tasks finished) over the last hour (every 5 s), day (every minute) or week (every 15 minutes)."""
    return history(service.store, window, studio if service.settings.auth_required else None)
