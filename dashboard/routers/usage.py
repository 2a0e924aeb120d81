"""/api/usage: what the caller's studio used, per UTC day: the basis of its bill."""

from __future__ import annotations

import datetime
import time

from fastapi import APIRouter, HTTPException, Query

from dashboard.deps import StoreDep, StudioDep
from dashboard.models import UNAUTHORIZED, Usage, refusal
from farm.queue.usage import DAY_S, MAX_DAYS, usage

DEFAULT_DAYS = 30
UNPROCESSABLE = 422
MAX_TIME_CHARS = 40

router = APIRouter(prefix="/api", tags=["usage"], responses=UNAUTHORIZED)


@router.get("/usage", response_model=Usage, response_model_by_alias=True, responses=refusal(422, "a bad date or span"))
def get_usage(
    store: StoreDep,
    studio: StudioDep,
    from_: str | None = Query(
        None, alias="from", max_length=MAX_TIME_CHARS, description=f"the start: a UTC date (YYYY-MM-DD) or an ISO 8601 time (default: {DEFAULT_DAYS} days before 'to')"
    ),
    to: str | None = Query(None, max_length=MAX_TIME_CHARS, description="the end: a UTC date, its whole day included, or an ISO 8601 time, excluded (default: now)"),
):
    """CPU seconds and seconds of audio delivered by the studio's job attempts, per UTC day they ended and in all."""
    to_s = time.time() if to is None else _instant(to, "to", end=True)
    from_s = to_s - DEFAULT_DAYS * DAY_S if from_ is None else _instant(from_, "from", end=False)
    if from_s >= to_s:
        raise HTTPException(UNPROCESSABLE, f"from ({from_}) must come before to ({to})")
    if to_s - from_s > MAX_DAYS * DAY_S:
        raise HTTPException(UNPROCESSABLE, f"from {from_} to {to} spans more than the {MAX_DAYS} days one query may cover")
    return usage(store, studio, from_s, to_s)


def _instant(text: str, field: str, end: bool) -> float:
    """Unix seconds of a date (its start, or with ``end`` the start of the next day) or an ISO 8601 time (UTC unless it says)."""
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text) + datetime.timedelta(days=1 if end else 0)
            return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(UNPROCESSABLE, f"{field}: {text!r} is neither a date (YYYY-MM-DD) nor an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()
