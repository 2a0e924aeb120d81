"""Validators for parameters and audio blocks.

One validator per kind of input; each raises an error that states the rule, in
the style of scipy.signal (``"w0 should be such that 0 < w0 < 1"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .errors import BlockError, ParameterError


def check_number(
    name: str,
    value: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
) -> float:
    """Return ``value`` as a float if it is finite and within the given bounds.

    Raises
    ------
    ParameterError
        Naming ``name``, the bound broken and the value given.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{name}: must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name}: must be >= {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise ParameterError(f"{name}: must be <= {maximum:g}, got {value:g}")
    if exclusive_minimum is not None and value <= exclusive_minimum:
        raise ParameterError(f"{name}: must be > {exclusive_minimum:g}, got {value:g}")
    if exclusive_maximum is not None and value >= exclusive_maximum:
        raise ParameterError(f"{name}: must be < {exclusive_maximum:g}, got {value:g}")
    return value


def check_choice(name: str, value: object, allowed: Iterable[object]) -> object:
    """Return ``value`` if it is one of ``allowed``; otherwise raise ParameterError."""
    allowed = tuple(allowed)
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ParameterError(f"{name}: must be one of {listed}, got {value!r}")
    return value


def check_sample_rate(sample_rate: float) -> float:
    """Return ``sample_rate`` (Hz) as a float if it is a plausible audio rate."""
    return check_number("sample_rate", sample_rate, minimum=1000.0, maximum=1_536_000.0)


def check_frequency(name: str, freq_hz: float, sample_rate: float) -> float:
    """Return ``freq_hz`` if ``0 < freq_hz < sample_rate / 2`` (below Nyquist)."""
    nyquist = sample_rate / 2.0
    freq_hz = check_number(name, freq_hz)
    if not 0.0 < freq_hz < nyquist:
        raise ParameterError(
            f"{name}: must be such that 0 < {name} < {nyquist:g} "
            f"(Nyquist at sample_rate {sample_rate:g}), got {freq_hz:g}"
        )
    return freq_hz


def check_block(block: np.ndarray, channels: int | None = None, sample_rate: float | None = None) -> np.ndarray:
    """Return ``block`` as a C-contiguous float64 array shaped (frames, channels).

    Raises
    ------
    BlockError
        If the block is not 2-D, has the wrong channel count, or holds NaN or
        infinite samples (the message gives the first bad frame, and its time in
        seconds when ``sample_rate`` is given).
    """
    array = np.asarray(block)
    if array.ndim != 2:
        raise BlockError(f"block: must be a 2-D array shaped (frames, channels), got shape {array.shape}")
    if channels is not None and array.shape[1] != channels:
        raise BlockError(f"block: must have {channels} channel(s), got {array.shape[1]}")
    if array.shape[1] < 1:
        raise BlockError("block: must have at least one channel, got 0")
    if not np.issubdtype(array.dtype, np.floating):
        raise BlockError(f"block: must hold floating-point samples, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        frame = int(np.argmin(finite.all(axis=1)))
        where = f"frame {frame}"
        if sample_rate:
            where += f" ({frame / sample_rate:.6f} s)"
        raise BlockError(f"block: holds NaN or infinite samples, first at {where}")
    return array
