"""Linkwitz-Riley crossovers: 24 dB/octave lowpass and highpass filters whose outputs sum to an allpass.

A 4th-order Linkwitz-Riley filter is a 2nd-order Butterworth filter applied
twice (S. Linkwitz, "Active crossover networks for non-coincident drivers",
JAES 24(1), 1976). Its lowpass and highpass at one frequency are each -6 dB
there and fall 24 dB per octave beyond it; their sum has the magnitude of
the input at every frequency (it is a 2nd-order allpass), so splitting a
signal into bands and adding them back changes only its phase. Both are
built from the same pre-warped cookbook sections (:func:`dsp.eq.biquad`), so
the bilinear transform keeps the property.
"""

from __future__ import annotations

import math

import numpy as np

from .eq import BUTTERWORTH_Q, biquad

_SETTLE_LEVEL = 1e-6


def linkwitz_riley(kind: str, freq_hz: float, sample_rate: float) -> np.ndarray:
    """The 4th-order Linkwitz-Riley ``"lowpass"`` or ``"highpass"`` at ``freq_hz`` as second-order sections, shape (2, 6)."""
    section = biquad(kind, freq_hz, sample_rate, q=BUTTERWORTH_Q)
    return np.stack([section, section])


def allpass(freq_hz, sample_rate: float) -> np.ndarray:
    """The 2nd-order allpass that a Linkwitz-Riley pair at ``freq_hz`` sums to, as second-order sections (1, 6).

    The cookbook's allpass with Q = 1/sqrt(2): ``(s^2 - sqrt(2) w s + w^2) / (s^2 + sqrt(2) w s + w^2)``.
    A band that does not cross this frequency passes through it, so it keeps
    the same phase as the bands that do. An array of frequencies gives one
    such (1, 6) per frequency: (frequencies, 1, 6).
    """
    w0 = 2.0 * math.pi * np.asarray(freq_hz, dtype=np.float64) / sample_rate
    cos_w0, alpha = np.cos(w0), np.sin(w0) / (2.0 * BUTTERWORTH_Q)
    a0 = 1.0 + alpha
    one = np.ones_like(w0)
    row = np.stack([(1.0 - alpha) / a0, -2.0 * cos_w0 / a0, one, one, -2.0 * cos_w0 / a0, (1.0 - alpha) / a0], axis=-1)
    return row[..., None, :]


def settle_s(sos: np.ndarray, sample_rate: float) -> float:
    """Seconds for the slowest pole of the sections ``sos`` to decay by 120 dB."""
    radius = max(float(np.max(np.abs(np.roots(section[3:])))) for section in sos)
    return math.log(_SETTLE_LEVEL) / math.log(radius) / sample_rate if radius > 0 else 0.0
