"""The files under ``static/``: the dashboard's script and stylesheet and the vendored API explorers, served
by Starlette's StaticFiles at ``/static`` (nothing outside the folder), always revalidated."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/static"
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
"""The content type of each kind of file the dashboard ships (the system's MIME table is not asked)."""


class DashboardFiles(StaticFiles):
    """StaticFiles with fixed content types and ``Cache-Control: no-cache`` (each use revalidates by ETag)."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR)

    def file_response(self, full_path, stat_result, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        if response.status_code != 304:
            response.headers["Content-Type"] = CONTENT_TYPES.get(Path(full_path).suffix, "text/plain; charset=utf-8")
        return response


def static_url(name: str) -> str:
    """The address of the static file ``name`` (a path under ``static/``)."""
    return f"{STATIC_PATH}/{name}"
