"""K-weighting: the frequency weighting of ITU-R BS.1770-4 loudness.

The K filter is two biquads in cascade (Rec. ITU-R BS.1770-4, Annex 1, Figs. 1
to 4): a high shelf of about +4 dB modelling the acoustic effect of the head,
then a highpass near 38 Hz (the "RLB" weighting). At 48 kHz the standard
publishes the coefficients (Annex 1, Tables 1 and 2) and :func:`sos` returns
them exactly. At other rates it derives them, as libebur128 does, from the
analogue prototype fitted to those tables, through the bilinear transform with
the frequency prewarped at each filter's centre (``K = tan(pi f0 / fs)``).

The derivation reproduces the published 48 kHz coefficients to within 1e-15.
"""

from __future__ import annotations

import math

import numpy as np

from .validate import check_sample_rate

PUBLISHED_RATE_HZ = 48000.0
"""Sample rate of the coefficients published in BS.1770-4, Annex 1."""

PUBLISHED_SOS = np.array(
    [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
)
"""BS.1770-4 Annex 1 Tables 1 (shelf) and 2 (highpass) as ``[b0, b1, b2, 1, a1, a2]`` rows."""

SHELF_FREQ_HZ = 1681.974450955533
SHELF_GAIN_DB = 3.999843853973347
SHELF_Q = 0.7071752369554196
SHELF_BAND_EXPONENT = 0.4996667741545416
HIGHPASS_FREQ_HZ = 38.13547087602444
HIGHPASS_Q = 0.5003270373238773

SETTLE_S = 0.2
"""Seconds of pre-roll after which a cold K filter matches a warm one.

The slowest mode is the highpass's double pole (time constant
``1 / (2 pi 38.1 Hz)``, about 4.2 ms at any rate); after 0.2 s, 48 time
constants, a start-up transient has decayed by more than 350 dB.
"""


def shelf_prototype(freq_hz: np.ndarray) -> np.ndarray:
    """Complex response of the analogue high-shelf prototype at ``freq_hz``.

    ``H(s) = (Vh s^2 + Vb s / Q + 1) / (s^2 + s / Q + 1)`` with ``s = j f / f0``,
    ``Vh = 10 ** (G / 20)`` and ``Vb = Vh ** 0.49967`` (the fit to BS.1770-4
    Table 1 used by libebur128).
    """
    s = 1j * np.asarray(freq_hz, dtype=np.float64) / SHELF_FREQ_HZ
    vh, vb = _shelf_gains()
    return (vh * s * s + vb * s / SHELF_Q + 1.0) / (s * s + s / SHELF_Q + 1.0)


def highpass_prototype(freq_hz: np.ndarray) -> np.ndarray:
    """Complex response of the analogue highpass prototype: ``s^2 / (s^2 + s / Q + 1)``."""
    s = 1j * np.asarray(freq_hz, dtype=np.float64) / HIGHPASS_FREQ_HZ
    return s * s / (s * s + s / HIGHPASS_Q + 1.0)


def derived_sos(sample_rate: float) -> np.ndarray:
    """K-weighting biquads for ``sample_rate`` (Hz) derived from the analogue prototype.

    Returns
    -------
    numpy.ndarray
        Shape (2, 6), rows ``[b0, b1, b2, 1, a1, a2]`` for :func:`scipy.signal.sosfilt`.
        As in BS.1770-4 Table 2 and libebur128, the highpass numerator is
        ``[1, -2, 1]`` without normalisation, so that stage carries a flat
        gain of ``1 + K / Q + K^2``: +0.043 dB at 48 kHz, which the standard's
        -0.691 dB constant accounts for, but +0.047 dB at 44.1 kHz, +0.022 dB
        at 96 kHz and +0.011 dB at 192 kHz. Loudness at those rates therefore
        reads that much off a rate-independent response (-0.017 LU at 96 kHz),
        exactly as libebur128 does.
    """
    sample_rate = check_sample_rate(sample_rate)
    vh, vb = _shelf_gains()
    k = math.tan(math.pi * SHELF_FREQ_HZ / sample_rate)
    a0 = 1.0 + k / SHELF_Q + k * k
    shelf = [
        (vh + vb * k / SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * HIGHPASS_FREQ_HZ / sample_rate)
    a0 = 1.0 + k / HIGHPASS_Q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass])


def sos(sample_rate: float) -> np.ndarray:
    """K-weighting biquads for ``sample_rate`` (Hz), shape (2, 6).

    The published BS.1770-4 coefficients at 48 kHz, :func:`derived_sos` at
    any other rate.
    """
    sample_rate = check_sample_rate(sample_rate)
    if sample_rate == PUBLISHED_RATE_HZ:
        return PUBLISHED_SOS.copy()
    return derived_sos(sample_rate)


def _shelf_gains() -> tuple[float, float]:
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    return vh, vh**SHELF_BAND_EXPONENT
