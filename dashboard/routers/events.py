"""/api/events: job changes as server-sent events."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from dashboard.deps import ServiceDep, StudioDep
from dashboard.models import UNAUTHORIZED

router = APIRouter(tags=["events"])

KEEPALIVE_S = 15.0


@router.get(
    "/api/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "``job`` events: a job's fields as GET /api/jobs lists them, without download URLs"},
        **UNAUTHORIZED,
    },
)
async def events(request: Request, service: ServiceDep, studio: StudioDep) -> StreamingResponse:
    """A stream of ``job`` events (the job's fields, without its report) for the caller's jobs."""
    broker = service.events
    queue = broker.subscribe(studio if service.settings.auth_required else None)

    async def stream():
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    yield await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            broker.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
