"""The FastAPI application: wires the service, the request guard, the routers and the static files, nothing else."""

from __future__ import annotations

import contextlib
import logging
import sqlite3

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse

from farm.queue.driver import RenderDriver

from .assets import STATIC_PATH, DashboardFiles
from .config import Settings
from .failures import storage_failure, store_failure
from .guard import RequestGuard, security_headers
from .routers import docs, events, jobs, pages, system, usage
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

    app = FastAPI(title="mixfarm", description="A distributed mix-render farm.", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    app.add_middleware(RequestGuard, settings=settings)

    @app.exception_handler(sqlite3.OperationalError)
    async def store_unavailable(request: Request, exc: sqlite3.OperationalError):
        log.warning("job store failed serving %s %s: %s", request.method, request.url.path, exc)
        return answer(store_failure(exc))

    @app.exception_handler(OSError)
    async def storage_unavailable(request: Request, exc: OSError):
        log.warning("storage failed serving %s %s: %s", request.method, request.url.path, exc)
        return answer(storage_failure(exc, "storage"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("error serving %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status.HTTP_500_INTERNAL_SERVER_ERROR, headers=security_headers())

    for router in (jobs.router, usage.router, system.router, events.router, pages.router, docs.router):
        app.include_router(router)
    app.mount(STATIC_PATH, DashboardFiles(), name="static")
    return app


def answer(exc: HTTPException) -> JSONResponse:
    """The JSON answer ``{"detail": ...}`` for ``exc``."""
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
