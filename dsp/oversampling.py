"""Stateful polyphase oversampling: interpolate by an integer factor and back.

Used where a nonlinearity would alias (saturation) and where peaks between the
samples matter (the true-peak limiter's detector). Both directions are exact
FIR filters evaluated as per-output dot products with carried history, so a
signal fed in blocks of any size gives bit-identical output to one fed whole.

The prototype is a Kaiser-window lowpass (Kaiser, "Nonrecursive digital filter
design using the I0-sinh window function", 1974) with its passband to
``passband_ratio`` of the base-rate Nyquist frequency and its stopband from the
base-rate Nyquist frequency on. Its length is ``factor * half_length * 2 + 1``,
so the group delay of one pass is ``half_length`` base-rate samples and a round
trip (up then down) delays by exactly ``2 * half_length`` base-rate samples.
"""

from __future__ import annotations

import dataclasses
import functools

import numba
import numpy as np
import scipy.signal

from .validate import check_number


@functools.lru_cache(maxsize=32)
def design_kernel(factor: int, stopband_db: float, passband_ratio: float) -> np.ndarray:
    """Return the symmetric Kaiser lowpass prototype for ``factor``-times oversampling.

    Parameters
    ----------
    factor : int
        Oversampling ratio, >= 2.
    stopband_db : float
        Stopband attenuation in dB.
    passband_ratio : float
        Passband edge as a fraction of the base-rate Nyquist frequency.

    Returns
    -------
    numpy.ndarray
        Taps at the high rate, unity DC gain, odd length ``2 * factor * h + 1``.
    """
    transition = (1.0 - passband_ratio) / factor
    numtaps, beta = scipy.signal.kaiserord(stopband_db, transition)
    half_length = int(np.ceil((numtaps - 1) / (2 * factor)))
    numtaps = 2 * factor * half_length + 1
    cutoff = (1.0 + passband_ratio) / (2.0 * factor)
    kernel = scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))
    kernel.setflags(write=False)
    return kernel


@numba.njit(cache=True)
def _interpolate(padded: np.ndarray, phases: np.ndarray, history: int) -> np.ndarray:
    factor, taps = phases.shape
    frames = padded.shape[0] - history
    channels = padded.shape[1]
    out = np.empty((frames * factor, channels))
    for ch in range(channels):
        for n in range(frames):
            base = history + n
            for p in range(factor):
                acc = 0.0
                for j in range(taps):
                    acc += phases[p, j] * padded[base - j, ch]
                out[n * factor + p, ch] = acc
    return out


@numba.njit(cache=True)
def _decimate(padded: np.ndarray, kernel: np.ndarray, factor: int, history: int) -> np.ndarray:
    frames = (padded.shape[0] - history) // factor
    channels = padded.shape[1]
    taps = kernel.shape[0]
    out = np.empty((frames, channels))
    for ch in range(channels):
        for q in range(frames):
            base = history + q * factor
            acc = 0.0
            for k in range(taps):
                acc += kernel[k] * padded[base - k, ch]
            out[q, ch] = acc
    return out


@dataclasses.dataclass(frozen=True)
class Oversampler:
    """Polyphase interpolation by ``factor`` and decimation back, with carried state.

    Parameters
    ----------
    factor : int
        Oversampling ratio, 2 to 16.
    stopband_db : float
        Attenuation of images and aliases, in dB (default 110).
    passband_ratio : float
        Passband edge as a fraction of the base-rate Nyquist (default 0.84, i.e.
        20.2 kHz at 48 kHz).
    """

    factor: int = 4
    stopband_db: float = 110.0
    passband_ratio: float = 0.84

    def __post_init__(self) -> None:
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, np.integer)) or not 2 <= self.factor <= 16:
            from .errors import ParameterError

            raise ParameterError(f"factor: must be an integer from 2 to 16, got {self.factor!r}")
        check_number("stopband_db", self.stopband_db, minimum=20.0, maximum=200.0)
        check_number("passband_ratio", self.passband_ratio, exclusive_minimum=0.0, exclusive_maximum=1.0)

    @property
    def kernel(self) -> np.ndarray:
        """The prototype lowpass at the high rate, unity DC gain."""
        return design_kernel(int(self.factor), float(self.stopband_db), float(self.passband_ratio))

    @property
    def half_length(self) -> int:
        """Group delay of one pass, in base-rate samples."""
        return (self.kernel.shape[0] - 1) // (2 * self.factor)

    @property
    def latency_samples(self) -> int:
        """Delay of an up-then-down round trip, in base-rate samples."""
        return 2 * self.half_length

    @property
    def _phases(self) -> np.ndarray:
        factor = self.factor
        kernel = self.kernel * factor
        taps = -(-kernel.shape[0] // factor)
        padded = np.zeros(taps * factor)
        padded[: kernel.shape[0]] = kernel
        return np.ascontiguousarray(padded.reshape(taps, factor).T)

    def init_state(self, channels: int) -> dict[str, np.ndarray]:
        """Silent history for both directions."""
        up_taps = -(-self.kernel.shape[0] // self.factor)
        return {
            "up_history": np.zeros((up_taps - 1, channels)),
            "down_history": np.zeros((self.kernel.shape[0] - 1, channels)),
        }

    def upsample(self, block: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Interpolate a base-rate block (frames, channels) to ``factor`` times as many frames."""
        history = state["up_history"]
        padded = np.concatenate([history, block], axis=0)
        out = _interpolate(padded, self._phases, history.shape[0])
        new_state = dict(state)
        new_state["up_history"] = padded[padded.shape[0] - history.shape[0] :].copy()
        return out, new_state

    def downsample(self, block: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Filter and decimate a high-rate block whose length is a multiple of ``factor``."""
        history = state["down_history"]
        padded = np.concatenate([history, block], axis=0)
        out = _decimate(padded, np.ascontiguousarray(self.kernel), self.factor, history.shape[0])
        new_state = dict(state)
        new_state["down_history"] = padded[padded.shape[0] - history.shape[0] :].copy()
        return out, new_state
