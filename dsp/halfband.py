"""Design of polyphase IIR halfband filters for 2x oversampling.

A halfband lowpass of odd order ``N = 2 n + 1`` splits into two parallel chains
of first-order allpass sections in ``z^-2`` (Valenzuela & Constantinides,
"Digital signal processing schemes for efficient interpolation and
decimation", IEE Proceedings G 130(6), 1983)::

    H(z) = (A0(z^2) + z^-1 A1(z^2)) / 2,    A(z^2) = prod (a_i + z^-2) / (1 + a_i z^-2)

Coefficients ``a_0 < a_1 < ...`` alternate between the chains: even indices
in ``A0``, odd ones in ``A1``. They follow from elliptic-filter theory in
closed form: the transition band sets the modulus ``k`` and the nome ``q``,
the stopband attenuation sets the order, and each coefficient is a ratio of
two theta-function series. The procedure is the one of Laurent de Soras'
HIIR library (``PolyphaseIir2Designer``). The filter is power-complementary:
its passband ripple is the square of its stopband ripple, far below any
audible level.

Frequencies here are fractions of the *low* rate's Nyquist frequency: a
filter with ``passband_ratio`` ``p`` passes up to ``p`` times the low-rate
Nyquist frequency and stops from ``2 - p`` times it, symmetric about the
halfband point.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .validate import check_number

_SERIES_FLOOR = 1e-100
"""Terms of the theta-function series smaller than this are dropped."""


def _transition(passband_ratio: float) -> tuple[float, float]:
    """Elliptic modulus ``k`` and nome ``q`` of a halfband with the given passband edge."""
    transition_fraction = (1.0 - passband_ratio) / 2.0
    k = math.tan((1.0 - 2.0 * transition_fraction) * math.pi / 4.0) ** 2
    root = (1.0 - k * k) ** 0.25
    e = 0.5 * (1.0 - root) / (1.0 + root)
    e4 = e**4
    q = e * (1.0 + e4 * (2.0 + e4 * (15.0 + 150.0 * e4)))
    return k, q


def stopband_attenuation_db(count: int, passband_ratio: float) -> float:
    """Stopband attenuation, in dB, of the halfband with ``count`` coefficients.

    The order is ``N = 2 count + 1``; the stopband power gain is ``a / (1 + a)``
    with ``a = 4 q^(N/2)``.
    """
    _, q = _transition(passband_ratio)
    a = 4.0 * q ** ((2 * count + 1) / 2.0)
    return -10.0 * math.log10(a / (1.0 + a))


def coefficient_count(stopband_db: float, passband_ratio: float) -> int:
    """Fewest coefficients, rounded up to an even count, that reach ``stopband_db``.

    An even count gives both allpass chains the same length, so they run side
    by side as lanes of one vector (see :mod:`dsp.oversampling`).
    """
    _, q = _transition(passband_ratio)
    power = 10.0 ** (-stopband_db / 10.0)
    a = power / (1.0 - power)
    order = math.ceil(2.0 * math.log(a / 4.0) / math.log(q))
    count = max(1, math.ceil((order - 1) / 2))
    return count + count % 2


def _theta_ratio(q: float, order: int, index: int) -> float:
    numerator, i, sign = 0.0, 0, 1.0
    while True:
        term = (
            sign * q ** (i * (i + 1)) * math.sin((2 * i + 1) * index * math.pi / order)
        )
        numerator += term
        sign, i = -sign, i + 1
        if abs(term) <= _SERIES_FLOOR:
            break
    denominator, i, sign = 0.5, 1, -1.0
    while True:
        term = sign * q ** (i * i) * math.cos(2 * i * index * math.pi / order)
        denominator += term
        sign, i = -sign, i + 1
        if abs(term) <= _SERIES_FLOOR:
            break
    return numerator * q**0.25 / denominator


@functools.lru_cache(maxsize=16)
def design(stopband_db: float, passband_ratio: float) -> np.ndarray:
    """Allpass coefficients of the halfband reaching ``stopband_db`` (dB) above ``2 - passband_ratio``.

    Parameters
    ----------
    stopband_db : float
        Required stopband attenuation in dB, 20 to 300.
    passband_ratio : float
        Passband edge as a fraction of the low-rate Nyquist frequency, 0.05 to 0.99.

    Returns
    -------
    numpy.ndarray
        An even number of coefficients in (0, 1), ascending, read-only.
    """
    check_number("stopband_db", stopband_db, minimum=20.0, maximum=300.0)
    check_number("passband_ratio", passband_ratio, minimum=0.05, maximum=0.99)
    k, q = _transition(passband_ratio)
    count = coefficient_count(stopband_db, passband_ratio)
    order = 2 * count + 1
    coefficients = []
    for index in range(1, count + 1):
        ww = _theta_ratio(q, order, index) ** 2
        x = math.sqrt((1.0 - ww * k) * (1.0 - ww / k)) / (1.0 + ww)
        coefficients.append((1.0 - x) / (1.0 + x))
    result = np.array(coefficients)
    result.setflags(write=False)
    return result


def frequency_response(coefficients: np.ndarray, freq_ratio: np.ndarray) -> np.ndarray:
    """Complex response ``H`` of the halfband at ``freq_ratio`` times the low-rate Nyquist frequency (0 to 2)."""
    z1 = np.exp(-0.5j * np.pi * np.asarray(freq_ratio, dtype=np.float64))
    z2 = z1 * z1
    chains = [np.ones_like(z2), np.ones_like(z2)]
    for index, a in enumerate(coefficients):
        chains[index % 2] = chains[index % 2] * (a + z2) / (1.0 + a * z2)
    return 0.5 * (chains[0] + z1 * chains[1])


def group_delay_samples(coefficients: np.ndarray) -> float:
    """Group delay of the halfband at 0 Hz, in samples of the *high* rate.

    A section ``(a + z^-2) / (1 + a z^-2)`` delays low frequencies by
    ``2 (1 - a) / (1 + a)`` samples; ``H`` averages its two chains, the
    second of which carries one more sample.
    """
    delays = [0.0, 1.0]
    for index, a in enumerate(coefficients):
        delays[index % 2] += 2.0 * (1.0 - a) / (1.0 + a)
    return 0.5 * (delays[0] + delays[1])
