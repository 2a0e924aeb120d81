"""Who is asking: API tokens map to studios."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

ANONYMOUS = "local"
"""The studio of every job when no tokens are configured."""


def studio_of(request: Request) -> str:
    """The studio behind the request's bearer token (FastAPI dependency).

    Without configured tokens every caller is the one local studio; with
    them a missing or unknown token answers 401.
    """
    tokens = request.app.state.service.settings.tokens
    if not tokens:
        return ANONYMOUS
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API token: send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
    studio = tokens.get(token.strip())
    if studio is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API token", headers={"WWW-Authenticate": "Bearer"})
    return studio
