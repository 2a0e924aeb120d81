"""Pre-roll: how far before a chunk a chain or a meter starts from silence so the chunk matches one long run.

Each effect's ``settle_s`` is the time after which a cold start matches a
warm one below -120 dBFS; a chain's pre-roll is their sum, times
:data:`PREROLL_MARGIN`. A chunk whose pre-roll would be longer than the chunk
carries its state from the previous chunk instead.
"""

from __future__ import annotations

import math

from dsp import kweighting, truepeak

PREROLL_MARGIN = 1.0
"""Pre-roll is this many times a chain's settle time. Each effect's
``settle_s`` bounds the worst case (a full-scale difference between a cold
and a warm start); renders of the test sessions null at -137 dBFS or lower
even after the loudness stage's gain."""


def first_frame(start: int, preroll_frames: int | None) -> int:
    """Where rendering a chunk that starts at frame ``start`` begins: its pre-roll earlier (not before 0); None carries state."""
    return start if preroll_frames is None else max(start - preroll_frames, 0)


def preroll_frames(settle_s: float, sample_rate: int) -> int:
    """Frames of pre-roll for a chain that settles in ``settle_s`` seconds, with :data:`PREROLL_MARGIN`."""
    return math.ceil(PREROLL_MARGIN * settle_s * sample_rate)


def meter_preroll_frames(sample_rate: int, true_peak_oversampling: int) -> int:
    """Frames a loudness meter needs before a chunk to measure it as one meter fed everything would.

    The K-weighting filter settles in :data:`dsp.kweighting.SETTLE_S`; the
    true-peak interpolator holds a finite history.
    """
    return preroll_frames(kweighting.SETTLE_S, sample_rate) + truepeak.history_frames(true_peak_oversampling)


def chain_preroll_frames(effects, sample_rate: int, chunk_frames: int, extra_frames: int = 0) -> int | None:
    """Pre-roll for chunks of a chain of ``effects`` to start from silence, plus ``extra_frames``.

    None (carry state instead) when it would be longer than ``chunk_frames``.
    """
    frames = preroll_frames(sum(effect.settle_s for effect in effects), sample_rate) + extra_frames
    return frames if frames <= chunk_frames else None
