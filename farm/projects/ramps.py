"""Fader ramps that a DAW draws straight in linear gain, traced for a session whose ramps run straight in dB."""

from __future__ import annotations

import math

RAMP_STEP_DB = 0.5
"""The largest step, in dB, between the points that trace a ramp; the traced curve stays within 0.01 dB of the original."""
RAMP_FLOOR_DB = -96.0
"""Below this level a ramp is not traced further: it goes straight to its end."""


def traced_gain_ramps(points: list[tuple[float, float, bool]], limit: int) -> list[tuple[float, float, bool]]:
    """A fader lane whose ramps were linear in gain factor, with points added so that ramps linear in dB follow the same curve.

    Tracing stops once the lane passes ``limit`` points (the caller refuses such a lane), so its size stays bounded.
    """
    traced = []
    for (t0, v0, hold), (t1, v1, _) in zip(points, points[1:]):
        if len(traced) > limit:
            return traced
        traced.append((t0, v0, hold))
        if hold or t1 <= t0 or abs(v1 - v0) <= RAMP_STEP_DB:
            continue
        a0, a1 = 10.0 ** (v0 / 20.0) if v0 > RAMP_FLOOR_DB else 0.0, 10.0 ** (v1 / 20.0) if v1 > RAMP_FLOOR_DB else 0.0
        low, high = max(min(v0, v1), RAMP_FLOOR_DB), max(v0, v1)
        steps = math.ceil((high - low) / RAMP_STEP_DB)
        levels = [low + (high - low) * index / steps for index in range(1, steps)]
        for level in sorted(levels, reverse=v1 < v0):
            amplitude = 10.0 ** (level / 20.0)
            traced.append((t0 + (amplitude - a0) / (a1 - a0) * (t1 - t0), level, False))
    traced.append(points[-1])
    return traced
