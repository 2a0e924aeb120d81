"""Who is asking: API tokens map to studios."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

ANONYMOUS = "local"
"""The studio of every job when no tokens are configured."""

TOKEN_COOKIE = "mixfarm_token"
"""The HttpOnly cookie the dashboard keeps a studio's token in once a page was opened with ``?token=``."""


def studio_of(request: Request) -> str:
    """The studio behind the request's bearer token, or its token cookie (FastAPI dependency).

    Without configured tokens every caller is the one local studio; with
    them a missing or unknown token answers 401. The Authorization header
    wins; the cookie counts only without one (so the dashboard's own
    EventSource and fetch calls are authorised).
    """
    tokens = request.app.state.service.settings.tokens
    if not tokens:
        return ANONYMOUS
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = ""
    else:
        token = request.cookies.get(TOKEN_COOKIE, "")
    if not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API token: send 'Authorization: Bearer <token>' (or open a dashboard page with ?token=<token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return studio_for_token(tokens, token)


def studio_for_token(tokens: dict[str, str], token: str) -> str:
    """The studio of ``token``; 401 for an unknown one."""
    studio = tokens.get(token.strip())
    if studio is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API token", headers={"WWW-Authenticate": "Bearer"})
    return studio
