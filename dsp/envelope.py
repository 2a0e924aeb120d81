"""One-pole ballistics shared by the dynamics effects (compressor, gate, limiter).

Every attack and release in :mod:`dsp` is a one-pole smoother

    y[n] = x[n] + a * (y[n-1] - x[n]),    a = exp(-1 / (time_s * sample_rate)),

so a step in ``x`` is covered to ``1 - 1/e`` (63.2 %) after ``time_s`` seconds,
the time-constant definition of Giannoulis, Massberg & Reiss, "Digital Dynamic
Range Compressor Design - A Tutorial and Analysis", JAES 60(6), 2012. A
*branching* smoother (ibid.) uses one coefficient while its input lies above
its output and another while it lies below.
"""

from __future__ import annotations

import math

import numba
import numpy as np

SETTLE_TIME_CONSTANTS = math.log(1e6)
"""Time constants a one-pole needs to shrink a full-scale difference below -120 dB."""


def one_pole_coefficient(time_s: float, sample_rate: float) -> float:
    """Feedback coefficient ``a`` of a one-pole smoother with time constant ``time_s``.

    Parameters
    ----------
    time_s : float
        Time, in seconds, for a step to reach ``1 - 1/e`` of its final value;
        0 gives ``a = 0`` (the output follows the input at once).
    sample_rate : float
        Sample rate in Hz.
    """
    if time_s <= 0.0:
        return 0.0
    return math.exp(-1.0 / (time_s * sample_rate))


def one_pole_coefficients(times_s: np.ndarray, sample_rate: float) -> np.ndarray:
    """:func:`one_pole_coefficient` of each time in ``times_s`` (seconds)."""
    times_s = np.asarray(times_s, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(times_s > 0.0, np.exp(-1.0 / (times_s * sample_rate)), 0.0)


@numba.njit(cache=True, nogil=True, inline="always")
def branching_step(previous: float, target: float, rise: float, fall: float) -> float:
    """One sample of a branching one-pole: coefficient ``rise`` upward, ``fall`` downward."""
    coefficient = rise if target > previous else fall
    return target + coefficient * (previous - target)
