"""What a failed task tells about itself: its kind, strip, chunk, node and the tail of its traceback."""

from __future__ import annotations

import inspect
import socket
import traceback
from collections.abc import Callable
from typing import Any

TRACEBACK_LINES = 20
"""The last lines of a failed task's traceback that are kept."""
TRACEBACK_CHARS = 4000
"""The most characters of traceback kept."""
STRIP_ARGUMENTS = ("group_name", "name")


def task_failure(task: Callable[..., Any], args: tuple, exc: BaseException) -> dict:
    """The facts of ``task(*args)`` raising ``exc``, as a JSON-ready dict.

    ``task`` is the task's kind (``tracks``, ``bus``, ``mix``, ``master``,
    ``deliver``, ``match``...), ``strip`` the track group or bus it rendered
    (the master for the mix bus; None for the others) and ``tracks`` a track
    group's tracks, ``chunk`` its frames
    ``[start_frame, stop_frame)`` and their times in seconds, ``node`` the
    cluster node it ran on and ``host`` that machine's name, ``traceback``
    the last :data:`TRACEBACK_LINES` lines of its traceback.
    """
    from .tasks import _node

    kind = task.__name__.removesuffix("_chunk")
    try:
        bound = inspect.signature(task).bind_partial(*args).arguments
    except TypeError:
        bound = {}
    strip = next((bound[name] for name in STRIP_ARGUMENTS if isinstance(bound.get(name), str)), "master" if kind == "mix" else None)
    tracks = None
    if isinstance(bound.get("group_name"), str):
        try:
            tracks = list(bound["plan"].group(bound["group_name"]).tracks)
        except Exception:  # noqa: BLE001 - the facts of a failure must not fail
            tracks = None
    chunk = None
    if isinstance(bound.get("start"), int) and isinstance(bound.get("stop"), int):
        rate = getattr(bound.get("plan"), "sample_rate", None)
        chunk = {"start_frame": bound["start"], "stop_frame": bound["stop"]}
        if rate:
            chunk.update(start_s=bound["start"] / rate, stop_s=bound["stop"] / rate)
    lines = "".join(traceback.format_exception(exc)).rstrip("\n").splitlines()
    return {
        "task": kind,
        "strip": strip,
        "tracks": tracks,
        "chunk": chunk,
        "node": _node(),
        "host": socket.gethostname(),
        "traceback": "\n".join(lines[-TRACEBACK_LINES:])[-TRACEBACK_CHARS:],
    }
