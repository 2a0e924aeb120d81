"""The FastAPI application: wires the service and the routers, nothing else."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from farm.driver import RenderDriver

from .config import Settings
from .routers import events, jobs, pages, system
from .service import Service

log = logging.getLogger("mixfarm.service")


def create_app(settings: Settings, driver: RenderDriver | None = None) -> FastAPI:
    """The mixfarm service for ``settings``; the scheduler runs while the app is served (renders through ``driver``)."""
    service = Service.create(settings, driver)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="mixfarm", description="A distributed mix-render farm.", version="0.1.0", lifespan=lifespan)
    app.state.service = service

    @app.middleware("http")
    async def refuse_oversized_uploads(request: Request, call_next):
        length = request.headers.get("content-length")
        limit = settings.max_upload_bytes
        if request.method == "POST" and length and length.isdigit() and int(length) > limit + 1024**2:
            return JSONResponse({"detail": f"bundle: {length} bytes is over the upload limit of {limit} bytes"}, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return await call_next(request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("error serving %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status.HTTP_500_INTERNAL_SERVER_ERROR)

    for router in (jobs.router, system.router, events.router, pages.router):
        app.include_router(router)
    return app
