"""A track's audio after its effects, kept in the render cache by what it depends on.

A track group's task renders several tracks and sums their outputs, so a
change to one track (its fader, say) runs the whole group again. With a
render cache (:attr:`farm.engine.plan.RenderPlan.track_cache`) each member
keeps its chunk's audio after its effects, and the effects' new state, under
a key of what they depend on: its stems' contents, its clips, its polarity,
its effects and their automation, the chunk's frames and the state it
started from. A member whose key is found skips its effects; its fader,
pan and sends (which come after) run as always, and the group sums in the
same order, so the result is the same to the bit.

A track listening to a sidechain is left out: its effects also hear
another strip.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from .fingerprint import fingerprint

if TYPE_CHECKING:
    from .chunkcache import ChunkCache
    from .plan import StripPlan

STATE_KEY = "prefader"
"""Where a track's carried state keeps the key of the chunk that made it, for the next chunk's key."""


@dataclasses.dataclass(frozen=True)
class TrackCache:
    """What track tasks keep their members' audio after the effects with: the render's cache, and the identity of every
    stem the plan reads (its path -> :func:`~farm.engine.fingerprint.stem_identity`), found once by the render."""

    entries: ChunkCache
    stems: dict[str, str]


def prefader_key(strip: StripPlan, begin: int, start: int, stop: int, state: dict, sample_rate: int, stems: dict[str, str]) -> str | None:
    """The key of ``strip``'s audio after its effects over ``[begin, stop)`` from ``state`` (``stems``: each stem's identity);
    None when it is not kept (a keyed track, or a stem of unknown identity)."""
    if strip.kind != "track" or strip.keys or any(info.path not in stems for info in strip.stems):
        return None
    try:
        return fingerprint(
            "prefader",
            [stems[info.path] for info in strip.stems],
            strip.spans,
            strip.input_latency,
            strip.channels,
            strip.spec.polarity_invert,
            strip.effects,
            strip.effect_envelopes,
            sample_rate,
            begin,
            start,
            stop,
            state.get(STATE_KEY),
        )
    except TypeError:
        return None


def cached_effects(cache: TrackCache | None, key: str | None) -> tuple[np.ndarray, Any] | None:
    """The audio after the effects and the effects' state stored under ``key``, or None (also when the cache cannot be read)."""
    if cache is None or key is None:
        return None
    try:
        return cache.entries.get(key)
    except OSError:
        return None


def keep_effects(cache: TrackCache | None, key: str | None, audio: np.ndarray, fx_states: Any) -> None:
    """Store a member's audio after its effects and their state; a cache that cannot be written is passed over."""
    if cache is None or key is None:
        return
    try:
        cache.entries.put(key, (audio, fx_states))
    except OSError:
        pass
