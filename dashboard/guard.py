"""The gate in front of the app: who asks, from where and how much they send,
decided before a byte of the request body is read; and the security headers
of every response.

It is a pure ASGI middleware, so nothing (FastAPI's form parsing included)
reads a body it has not let through:

* ``/api/`` requests are authenticated first (401 without a valid token);
* a state-changing request (POST, PUT, PATCH, DELETE) without a bearer
  header (so one a browser sends with the token cookie, or any request when
  no tokens are configured) must come from the service's own origin, by its
  ``Origin`` header or else its ``Referer``: 403 otherwise;
* a body whose ``Content-Length`` is over the limit answers 413 at once, and
  one that turns out longer while it arrives (chunked, or lying about its
  length) answers 413 as soon as the limit is passed, whatever its encoding.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import authenticate, has_bearer
from .config import Settings

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATH = "/api/jobs"
FORM_OVERHEAD_BYTES = 64 * 1024
"""What an upload's body may hold besides the bundle: the multipart framing and the other form fields."""
SMALL_BODY_BYTES = 64 * 1024
"""The largest body of any request but an upload (the sign-in form is the only other one with a body)."""
DEFAULT_PORTS = {"http": 80, "https": 443}

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The dashboard loads its scripts and stylesheets from here and nothing else, no inline script or style; the job
page's players stream the job's files from here."""
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The API explorers (``/docs``, ``/redoc``) load Swagger UI and ReDoc from the service's own static files;
they style themselves inline and ReDoc searches in a blob worker. They show only the OpenAPI document, no
job data, and reach no other origin. A page with an inline starter script allows exactly that script:
see :func:`docs_policy`."""
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


class BodyTooLarge(HTTPException):
    """The request body passed its limit while it arrived (413); the connection is closed after the answer."""

    def __init__(self, detail: str) -> None:
        super().__init__(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail, headers={"Connection": "close"})


class RequestGuard:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        send = with_security_headers(send, scope["path"])
        limit_bytes, too_large = self.body_limit(request)
        try:
            check_origin(request)
            if scope["path"].startswith("/api/"):
                authenticate(self.settings.tokens, request.headers, request.cookies)
            check_declared_length(request, limit_bytes, too_large)
        except HTTPException as exc:
            await refusal(exc, request)(scope, receive, send)
            return
        await self.app(scope, limited(receive, limit_bytes, too_large), send)

    def body_limit(self, request: Request) -> tuple[int, str]:
        """The most bytes ``request`` may send, and what to answer beyond that."""
        if request.method == "POST" and request.url.path == UPLOAD_PATH:
            upload = self.settings.max_upload_bytes
            limit = upload + FORM_OVERHEAD_BYTES
            return limit, f"request body: over the upload limit of {upload} bytes (a bundle of at most {upload} bytes and {FORM_OVERHEAD_BYTES} bytes of form around it: more than {limit} bytes were sent)"
        return SMALL_BODY_BYTES, f"request body: over the limit of {SMALL_BODY_BYTES} bytes for {request.method} {request.url.path}"


def check_origin(request: Request) -> None:
    """403 for a state-changing request without a bearer header whose Origin (else Referer) is not this service."""
    if request.method not in STATE_CHANGING_METHODS or has_bearer(request.headers):
        return
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return
    own = origin_of(str(request.url))
    if origin_of(source) != own or own is None:
        shown = f"{own[0]}://{own[1]}:{own[2]}" if own else "unknown"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"cross-origin request refused: it comes from {source[:200]!r}, not from this service ({shown}); "
            "a request that relies on the dashboard's cookie must come from the dashboard (API clients send 'Authorization: Bearer <token>')",
        )


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL or Origin, the port filled in; None for anything else (``null`` too)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


def check_declared_length(request: Request, limit_bytes: int, too_large: str) -> None:
    """413 at once when the request's Content-Length is over ``limit_bytes``."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit_bytes:
        raise BodyTooLarge(f"{too_large}; Content-Length says {int(length)} bytes")


def limited(receive: Receive, limit_bytes: int, too_large: str) -> Receive:
    """``receive`` that raises BodyTooLarge (a 413) as soon as more than ``limit_bytes`` of body have arrived."""
    received_bytes = 0

    async def receive_within_limit() -> Message:
        nonlocal received_bytes
        message = await receive()
        if message["type"] == "http.request":
            received_bytes += len(message.get("body", b""))
            if received_bytes > limit_bytes:
                raise BodyTooLarge(too_large)
        return message

    return receive_within_limit


def refusal(exc: HTTPException, request: Request) -> JSONResponse:
    """The JSON answer for a request refused before its body was read; the connection closes if a body may follow."""
    headers = dict(exc.headers or {})
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        headers["Connection"] = "close"
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)


def with_security_headers(send: Send, path: str) -> Send:
    """``send`` adding the Content-Security-Policy and the other security headers to the response's start."""
    policy = DOCS_CSP if path in DOCS_PATHS else PAGE_CSP

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            added = [(name.encode(), value.encode()) for name, value in security_headers(policy).items() if name.encode() not in present]
            message = {**message, "headers": [*message.get("headers", []), *added]}
        await send(message)

    return send_with_headers


def docs_policy(inline_scripts: Iterable[str]) -> str:
    """:data:`DOCS_CSP` also allowing each of ``inline_scripts`` (the text inside a ``<script>`` tag), by its SHA-256."""
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" for script in inline_scripts)
    return DOCS_CSP.replace("script-src 'self'", f"script-src 'self'{hashes}", 1)


def security_headers(policy: str = PAGE_CSP) -> dict[str, str]:
    """The headers every response carries: ``policy`` as its Content-Security-Policy and :data:`SECURITY_HEADERS`."""
    return {"content-security-policy": policy, **SECURITY_HEADERS}
