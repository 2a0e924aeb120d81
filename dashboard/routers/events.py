"""/api/events: job changes as server-sent events."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from ..auth import studio_of

router = APIRouter(tags=["events"])

KEEPALIVE_S = 15.0


@router.get("/api/events")
async def events(request: Request, studio: str = Depends(studio_of)) -> StreamingResponse:
    """A stream of ``job`` events (the job's fields, without its report) for the caller's jobs."""
    broker = request.app.state.service.events
    allowed = studio if request.app.state.service.settings.auth_required else None
    queue = broker.subscribe(allowed)

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
