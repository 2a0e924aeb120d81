"""/docs and /redoc: the API explorers (Swagger UI, ReDoc), loaded from the service's own static files."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from dashboard.assets import static_url
from dashboard.guard import docs_policy

router = APIRouter(include_in_schema=False)

DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
REDOC_PATH = "/redoc"
FAVICON = static_url("vendor/favicon-32x32.png")
SWAGGER_PARAMETERS = {"validatorUrl": None}
"""Swagger UI's own settings beyond FastAPI's defaults: no badge fetched from the public validator."""
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def allowing_its_starter(page: HTMLResponse) -> HTMLResponse:
    """``page`` with a Content-Security-Policy that allows its inline starter script (by hash) and no other inline script."""
    page.headers["content-security-policy"] = docs_policy(INLINE_SCRIPT.findall(page.body.decode()))
    return page


@router.get(DOCS_PATH)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over the OpenAPI document."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=static_url("vendor/swagger-ui-bundle.js"),
        swagger_css_url=static_url("vendor/swagger-ui.css"),
        swagger_favicon_url=FAVICON,
        oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )
    return allowing_its_starter(page)


@router.get(OAUTH2_REDIRECT_PATH)
def swagger_ui_redirect() -> HTMLResponse:
    """Where Swagger UI's OAuth2 sign-in returns to."""
    return allowing_its_starter(get_swagger_ui_oauth2_redirect_html())


@router.get(REDOC_PATH)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over the OpenAPI document."""
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=static_url("vendor/redoc.standalone.js"),
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
