"""Who is asking: API tokens map to studios.

Tokens are compared in constant time against every configured token (no
early exit), so the time a lookup takes says nothing about how much of a
guess was right.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from fastapi import HTTPException, status

ANONYMOUS = "local"
"""The studio of every job when no tokens are configured."""

TOKEN_COOKIE = "mixfarm_token"
"""The HttpOnly cookie the dashboard keeps a studio's token in once a page was opened with ``?token=``."""

MISSING_TOKEN = "missing API token: send 'Authorization: Bearer <token>' (or open a dashboard page with ?token=<token>)"
UNKNOWN_TOKEN = "unknown API token"


def authenticate(tokens: Mapping[str, str], headers: Mapping[str, str], cookies: Mapping[str, str]) -> str:
    """The studio of the token in ``headers`` (bearer) or else ``cookies``; ANONYMOUS without configured tokens.

    Raises a 401 HTTPException naming what is missing or wrong.
    """
    if not tokens:
        return ANONYMOUS
    token = presented_token(headers, cookies)
    if not token:
        raise unauthorized(MISSING_TOKEN)
    return require_studio(tokens, token)


def presented_token(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str:
    """The bearer token of the Authorization header, or the token cookie without a header; "" if none."""
    header = headers.get("authorization")
    if header is None:
        return cookies.get(TOKEN_COOKIE, "").strip()
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def has_bearer(headers: Mapping[str, str]) -> bool:
    """True when the request carries ``Authorization: Bearer ...`` (so it is not driven by a cookie)."""
    return headers.get("authorization", "").partition(" ")[0].lower() == "bearer"


def require_studio(tokens: Mapping[str, str], token: str) -> str:
    """The studio of ``token``; a 401 HTTPException for an unknown one."""
    studio = studio_for_token(tokens, token)
    if studio is None:
        raise unauthorized(UNKNOWN_TOKEN)
    return studio


def studio_for_token(tokens: Mapping[str, str], token: str) -> str | None:
    """The studio of ``token``, or None; every configured token is compared, in constant time each."""
    presented = token.strip().encode()
    found = None
    for known, studio in tokens.items():
        if hmac.compare_digest(known.encode(), presented):
            found = studio
    return found


def token_matches(expected: str, presented: str) -> bool:
    """``presented == expected``, compared in constant time."""
    return hmac.compare_digest(expected.encode(), presented.strip().encode())


def unauthorized(detail: str) -> HTTPException:
    """A 401 asking for a bearer token."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})
