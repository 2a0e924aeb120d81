"""Fade curves for clips and the master.

A fade of ``n`` frames maps position ``t = i / n`` (frame ``i`` from the fade's
start) to a gain:

``linear``
    ``t``
``equal_power``
    ``sin(t * pi / 2)``: a crossfade between two such fades keeps constant power.
``exponential``
    linear in dB from -60 dB to 0 dB, offset so it starts at exactly 0:
    ``(10 ** (3 * (t - 1)) - 10 ** -3) / (1 - 10 ** -3)``.

A fade-in's first frame is silent; a fade-out mirrors it so the frame after
its end would be silent.
"""

from __future__ import annotations

import numpy as np

from .validate import check_choice

SHAPES = ("linear", "equal_power", "exponential")
_EXPONENTIAL_FLOOR = 10.0**-3


def fade_curve(shape: str, position: np.ndarray) -> np.ndarray:
    """Gain of a fade-in at positions ``0 <= position <= 1``."""
    check_choice("fade_shape", shape, SHAPES)
    position = np.clip(np.asarray(position, dtype=np.float64), 0.0, 1.0)
    if shape == "linear":
        return position
    if shape == "equal_power":
        return np.sin(position * (np.pi / 2.0))
    return (np.power(10.0, 3.0 * (position - 1.0)) - _EXPONENTIAL_FLOOR) / (1.0 - _EXPONENTIAL_FLOOR)


def fade_gain(
    start_frame: int,
    frames: int,
    total_frames: int,
    fade_in_frames: int = 0,
    fade_out_frames: int = 0,
    shape: str = "equal_power",
) -> np.ndarray:
    """Gain for frames ``start_frame .. start_frame + frames - 1`` of a region.

    The region is ``total_frames`` long, fades in over its first
    ``fade_in_frames`` and out over its last ``fade_out_frames``. Frames outside
    ``[0, total_frames)`` get 0. Any frame range gives the same values as the
    whole region.
    """
    index = start_frame + np.arange(frames, dtype=np.int64)
    gain = ((index >= 0) & (index < total_frames)).astype(np.float64)
    if fade_in_frames > 0:
        head = index < fade_in_frames
        gain[head] *= fade_curve(shape, index[head] / fade_in_frames)
    if fade_out_frames > 0:
        tail = index >= total_frames - fade_out_frames
        gain[tail] *= fade_curve(shape, (total_frames - index[tail]) / fade_out_frames)
    return gain
