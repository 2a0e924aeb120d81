"""Look-ahead true-peak limiter.

The output, measured 8x oversampled (ITU-R BS.1770-4 Annex 2 style), stays at or
below ``ceiling_dbtp``. The gain is built in four steps, linked across channels
(one gain for every channel):

1. **Detector**: the signal is interpolated 8x (:func:`detector_phases`: a
   Kaiser-windowed sinc with its cut-off at the Nyquist frequency, 20 taps
   per phase, the design of ``scipy.signal.resample_poly``'s default 8x
   filter). Sample ``m`` needs the gain ``min(1, ceiling / P[m])``, where
   ``P[m]`` is the largest magnitude over all channels at the 8x points from
   ``m - 1`` up to (not including) ``m + 1``. The interpolator delays this
   by :data:`DETECTOR_HALF_TAPS` samples.
2. **Look-ahead minimum**: the smallest required gain over the look-ahead
   window of ``L + 1`` samples, ``L = round(lookahead_s * sample_rate)``.
3. **Release**: instant attack, one-pole release with ``release_s`` on the
   linear gain (see :mod:`dsp.envelope`).
4. **Smoothing**: a moving average over the same ``L + 1`` samples, which turns
   each drop in gain into a ramp that ends where it is needed. Every value it
   averages is at most the required gain of the sample it is applied to, so the
   smoothed gain never exceeds the required gain.

The audio is delayed by ``L`` plus the detector's delay (``latency_samples``)
and multiplied by the smoothed gain. Steps 2-4 follow G. Luff, "Designing a
straightforward limiter" (Signalsmith Audio, 2022); look-ahead limiting in
general is in U. Zoelzer (ed.), *DAFX*, 2nd ed., Wiley 2011, ch. 4.

**Safety margin.** Gain modulation makes the points between the samples rise a
little above ``gain * P``, and true-peak meters disagree with each other on
content near Nyquist. Measured without a margin (release 0 to 0.2 s,
look-ahead 1 to 10 ms, white noise at +12 dBFS, square waves, sines near
Nyquist, drums 20 dB over; 44.1 to 96 kHz), the output read at most 0.03 dB
over the ceiling at 8x with ``resample_poly`` (the detector's own design: the
modulation alone), 0.14 dB over with a 24-tap-per-phase Kaiser (beta 8) 8x
interpolator, and 0.18 dB over with the BS.1770-4 Annex 2 4x filter; all on
white noise, whose energy reaches Nyquist. The detector therefore aims
:data:`SAFETY_MARGIN_DB` below the ceiling.

**Gain reduction.** ``state["max_gain_reduction_db"]`` holds the largest gain
reduction, in dB (>= 0), applied since :meth:`~dsp.effect.Effect.init_state`;
:func:`max_gain_reduction_db` reads it. A chunk that starts from a carried state
reports the maximum over all chunks so far.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import numba
import numpy as np

from .automation import Lanes
from .effect import Effect, State
from .envelope import (
    SETTLE_TIME_CONSTANTS,
    branching_step,
    one_pole_coefficient,
    one_pole_coefficients,
)
from .units import db_to_linear
from .validate import check_number

DETECTOR_FACTOR = 8
"""Oversampling of the true-peak detector (the mirror folding assumes 8)."""

DETECTOR_HALF_TAPS = 10
"""Half the taps of each detector phase (even); also the detector's delay in samples."""

DETECTOR_KAISER_BETA = 5.0

SAFETY_MARGIN_DB = 0.2
"""dB below the ceiling that the detector aims at (see the module notes)."""

_TILE_FRAMES = 256


@functools.lru_cache(maxsize=1)
def detector_phases() -> np.ndarray:
    """Polyphase taps of the 8x true-peak detector's interpolator.

    The prototype is ``sinc(m / 8)`` under a Kaiser window (beta
    :data:`DETECTOR_KAISER_BETA`) over ``|m| <= 8 * DETECTOR_HALF_TAPS``: the
    design ``scipy.signal.resample_poly`` uses by default for 8x.

    Returns
    -------
    numpy.ndarray
        Shape ``(7, 2 * DETECTOR_HALF_TAPS)``: row ``p - 1`` gives the value
        ``p / 8`` of a sample after ``x[n - DETECTOR_HALF_TAPS]`` as
        ``sum_j row[j] * x[n - j]``. Phase 0 is the sample itself. Each row has
        unit DC gain, and row ``8 - p`` is row ``p`` reversed.
    """
    half = DETECTOR_HALF_TAPS
    factor = DETECTOR_FACTOR
    offsets = np.arange(-factor * half, factor * half + 1)
    prototype = np.sinc(offsets / factor) * np.kaiser(offsets.size, DETECTOR_KAISER_BETA)
    j = np.arange(2 * half)
    phases = np.array([prototype[factor * (j - half) + p + factor * half] for p in range(1, factor)])
    phases /= phases.sum(axis=1, keepdims=True)
    phases.setflags(write=False)
    return phases


@functools.lru_cache(maxsize=1)
def _folded_phases() -> tuple[np.ndarray, np.ndarray, float]:
    """Mirror-folded detector taps and the detector's worst-case gain.

    For the mirror pair of phases ``p`` and ``8 - p`` (``p`` = 1, 2, 3) with
    taps ``h``, ``A = sum_k (h[k] + h[T-1-k]) / 2 * (x[n-k] + x[n-T+1+k])`` and
    ``B = sum_k (h[k] - h[T-1-k]) / 2 * (x[n-k] - x[n-T+1+k])`` over the first
    half of the taps give both values as ``A + B`` and ``A - B``, so
    ``max(|u_p|, |u_8-p|) = |A| + |B|`` at half the multiplications. Phase 4
    is its own mirror: its value is ``A`` alone (``B`` = 0).

    Returns
    -------
    sums : numpy.ndarray
        Shape (4, half): the ``A`` taps for ``p`` = 1, 2, 3, 4.
    differences : numpy.ndarray
        Shape (3, half): the ``B`` taps for ``p`` = 1, 2, 3.
    gain_bound : float
        ``max_p sum |h_p|``: no interpolated value exceeds this times the
        largest input magnitude within the taps' reach.
    """
    phases = detector_phases()
    half = DETECTOR_HALF_TAPS
    mirrored = phases[:4, ::-1]
    sums = (phases[:4, :half] + mirrored[:, :half]) / 2.0
    differences = (phases[:3, :half] - mirrored[:3, :half]) / 2.0
    gain_bound = max(1.0, float(np.abs(phases).sum(axis=1).max()))
    return sums, differences, gain_bound


@numba.njit(cache=True, nogil=True, inline="always")
def _dot_rows(coefficients: np.ndarray, rows: np.ndarray, width: int, acc: np.ndarray) -> None:
    """``acc[:width] = sum_k coefficients[k] * rows[k, :width]``, two rows per pass (``len(coefficients)`` even)."""
    acc[:width] = 0.0
    for k in range(0, coefficients.shape[0], 2):
        a = coefficients[k]
        b = coefficients[k + 1]
        first = rows[k]
        second = rows[k + 1]
        for i in range(width):
            acc[i] += a * first[i] + b * second[i]


@numba.njit(cache=True, nogil=True)
def _tile_peaks(
    block: np.ndarray,
    history: np.ndarray,
    start: int,
    width: int,
    sums: np.ndarray,
    differences: np.ndarray,
    skip_below: float,
    window: np.ndarray,
    folded_sum: np.ndarray,
    folded_difference: np.ndarray,
    acc_sum: np.ndarray,
    acc_difference: np.ndarray,
    peaks: np.ndarray,
) -> None:
    """Largest 8x-interpolated magnitude over channels for frames ``start`` to ``start + width`` of ``block``.

    ``peaks[i]`` covers the sample interval that begins ``half`` frames before
    frame ``start + i``. Where every input within reach is below
    ``skip_below`` the interpolation is skipped and 0 reported instead: the
    caller only needs the peaks above ``skip_below * gain_bound``.
    """
    rows, half = sums.shape
    taps = 2 * half
    channels = block.shape[1]
    kept = history.shape[0]
    span = width + taps - 1
    loudest = 0.0
    for c in range(channels):
        for i in range(span):
            frame = start - (taps - 1) + i
            value = block[frame, c] if frame >= 0 else history[kept + frame, c]
            window[c, i] = value
            loudest = max(loudest, abs(value))
    for i in range(width):
        peaks[i] = 0.0
    if loudest <= skip_below:
        return
    for c in range(channels):
        samples = window[c]
        for i in range(width):
            peaks[i] = max(peaks[i], abs(samples[i + taps - 1 - half]))
        for k in range(half):
            near = samples[taps - 1 - k : taps - 1 - k + width]
            far = samples[k : k + width]
            sum_row = folded_sum[k]
            difference_row = folded_difference[k]
            for i in range(width):
                sum_row[i] = near[i] + far[i]
                difference_row[i] = near[i] - far[i]
        for p in range(rows):
            _dot_rows(sums[p], folded_sum, width, acc_sum)
            if p < differences.shape[0]:
                _dot_rows(differences[p], folded_difference, width, acc_difference)
                for i in range(width):
                    peaks[i] = max(peaks[i], abs(acc_sum[i]) + abs(acc_difference[i]))
            else:
                for i in range(width):
                    peaks[i] = max(peaks[i], abs(acc_sum[i]))


@numba.njit(cache=True, nogil=True, inline="always")
def _sliding_minimum(
    values: np.ndarray, span: int, length: int, prefix: np.ndarray, suffix: np.ndarray, out: np.ndarray
) -> None:
    """``out[j] = min(values[j : j + span])`` for ``j < length - span + 1``, without branches.

    With the first ``length`` values cut into blocks of ``span``, a window is
    the tail of one block (a suffix minimum) and the head of the next (a
    prefix minimum): M. van Herk, Pattern Recognition Letters 13(7), 1992;
    J. Gil & M. Werman, IEEE Trans. PAMI 15(5), 1993.
    """
    for block_start in range(0, length, span):
        block_end = min(block_start + span, length)
        running = values[block_start]
        for j in range(block_start, block_end):
            running = min(running, values[j])
            prefix[j] = running
        running = values[block_end - 1]
        for j in range(block_end - 1, block_start - 1, -1):
            running = min(running, values[j])
            suffix[j] = running
    for j in range(length - span + 1):
        out[j] = min(suffix[j], prefix[j + span - 1])


@numba.njit(cache=True, nogil=True)
def _limit(
    block: np.ndarray,
    history: np.ndarray,
    sums: np.ndarray,
    differences: np.ndarray,
    gain_bound: float,
    ceilings: np.ndarray,
    releases: np.ndarray,
    latency: int,
    last_peak: np.ndarray,
    required_history: np.ndarray,
    envelope: np.ndarray,
    gain_history: np.ndarray,
    gain_sum: np.ndarray,
    out: np.ndarray,
) -> float:
    """Limit ``block`` into ``out``; update the state arrays in place; return the smallest gain applied.

    Per tile of frames: interval peaks -> required gains -> look-ahead
    minimum -> release -> moving average -> delayed audio times gain.
    ``history`` holds the frames before ``block``; ``required_history`` and
    ``gain_history`` the last ``L`` required and released gains, oldest first;
    ``gain_sum`` the sum of ``gain_history`` as accumulated. ``ceilings``
    (linear, for the peak the detector reports at each frame) and
    ``releases`` (one-pole coefficients) hold one value or one per frame.
    """
    frames, channels = block.shape
    kept = history.shape[0]
    lookahead = required_history.shape[0]
    half = sums.shape[1]
    window = np.empty((channels, _TILE_FRAMES + 2 * half - 1))
    folded_sum = np.empty((half, _TILE_FRAMES))
    folded_difference = np.empty((half, _TILE_FRAMES))
    acc_sum = np.empty(_TILE_FRAMES)
    acc_difference = np.empty(_TILE_FRAMES)
    peaks = np.empty(_TILE_FRAMES)
    required = np.empty(lookahead + _TILE_FRAMES)
    required[:lookahead] = required_history
    gains = np.empty(lookahead + _TILE_FRAMES)
    gains[:lookahead] = gain_history
    prefix = np.empty(lookahead + _TILE_FRAMES)
    suffix = np.empty(lookahead + _TILE_FRAMES)
    minimum = np.empty(_TILE_FRAMES)

    previous = last_peak[0]
    level = envelope[0]
    total = gain_sum[0]
    smallest = 1.0
    ceiling_step = 1 if ceilings.shape[0] > 1 else 0
    release_step = 1 if releases.shape[0] > 1 else 0
    for start in range(0, frames, _TILE_FRAMES):
        width = min(_TILE_FRAMES, frames - start)
        lowest = ceilings[start * ceiling_step]
        for i in range(1, width * ceiling_step):
            lowest = min(lowest, ceilings[start + i])
        _tile_peaks(
            block, history, start, width, sums, differences, lowest / gain_bound,
            window, folded_sum, folded_difference, acc_sum, acc_difference, peaks,
        )  # fmt: skip
        for i in range(width):
            peak = max(previous, peaks[i])
            previous = peaks[i]
            ceiling = ceilings[(start + i) * ceiling_step]
            required[lookahead + i] = 1.0 if peak <= ceiling else ceiling / peak
        _sliding_minimum(required, lookahead + 1, lookahead + width, prefix, suffix, minimum)
        for i in range(width):
            level = branching_step(level, minimum[i], releases[(start + i) * release_step], 0.0)
            gains[lookahead + i] = level
            total += level
            gain = total / (lookahead + 1)
            total -= gains[i]
            smallest = min(smallest, gain)
            source = start + i - latency
            for c in range(channels):
                sample = block[source, c] if source >= 0 else history[kept + source, c]
                out[start + i, c] = sample * gain
        for k in range(lookahead):
            required[k] = required[width + k]
            gains[k] = gains[width + k]
    last_peak[0] = previous
    envelope[0] = level
    gain_sum[0] = total
    required_history[:] = required[:lookahead]
    gain_history[:] = gains[:lookahead]
    return smallest


def max_gain_reduction_db(state: State) -> float:
    """Largest gain reduction, in dB (>= 0), a limiter applied since its state was made (or reset)."""
    return float(state["max_gain_reduction_db"])


def reset_gain_reduction(state: State) -> State:
    """A copy of ``state`` that counts the largest gain reduction afresh (after a chunk's pre-roll)."""
    return {**state, "max_gain_reduction_db": np.array(0.0)}


@dataclasses.dataclass(frozen=True)
class Limiter(Effect):
    """Look-ahead true-peak limiter (8x oversampled detection), linked across channels.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    ceiling_dbtp : float
        Highest true peak of the output, in dBTP, <= 0.
    lookahead_s : float
        Look-ahead in seconds, > 0: the length of the gain's attack ramp, and
        most of the latency.
    release_s : float
        Release time constant in seconds, >= 0.

    Notes
    -----
    The output is the input delayed by ``latency_samples``; once the renderer
    compensates that delay nothing follows the input's end, so ``tail_s`` is 0.
    ``state["max_gain_reduction_db"]`` (see :func:`max_gain_reduction_db`)
    holds the largest gain reduction applied so far, in dB.
    """

    ceiling_dbtp: float = -1.0
    lookahead_s: float = 0.005
    release_s: float = 0.05

    type_name: ClassVar[str] = "limiter"
    automatable: ClassVar[tuple[str, ...]] = ("ceiling_dbtp", "release_s")

    def _validate(self) -> None:
        check_number("ceiling_dbtp", self.ceiling_dbtp, maximum=0.0)
        check_number("lookahead_s", self.lookahead_s, exclusive_minimum=0.0)
        check_number("release_s", self.release_s, minimum=0.0)

    @property
    def lookahead_frames(self) -> int:
        """The look-ahead in whole samples, at least 1."""
        return max(1, int(round(self.lookahead_s * self.sample_rate)))

    @property
    def latency_samples(self) -> int:
        """Look-ahead plus the detector's interpolation delay, in samples."""
        return self.lookahead_frames + DETECTOR_HALF_TAPS

    @property
    def settle_s(self) -> float:
        """Seconds of pre-roll for a cold start to match a warm one below -120 dBFS.

        The detector, the look-ahead minimum and the moving average forget
        their start after their lengths; the release one-pole then needs
        :data:`~dsp.envelope.SETTLE_TIME_CONSTANTS` time constants.
        """
        finite_frames = 2 * DETECTOR_HALF_TAPS + 2 * self.lookahead_frames + 1
        return finite_frames / self.sample_rate + SETTLE_TIME_CONSTANTS * self.release_s

    @property
    def _history_frames(self) -> int:
        """Input frames kept between blocks: the delay line and the detector's reach."""
        return max(self.latency_samples, 2 * DETECTOR_HALF_TAPS - 1)

    def _init_state(self, channels: int) -> State:
        lookahead = self.lookahead_frames
        return {
            "history": np.zeros((self._history_frames, channels)),
            "last_peak": np.zeros(1),
            "required_gain": np.ones(lookahead),
            "envelope": np.ones(1),
            "gain_history": np.ones(lookahead),
            "gain_sum": np.array([float(lookahead)]),
            "max_gain_reduction_db": np.array(0.0),
        }

    def automation_problem(self, parameter: str) -> str | None:
        """Why the limiter cannot follow ``parameter``: ``lookahead_s`` sets its latency, which is fixed for a render."""
        if parameter == "lookahead_s":
            return "the limiter's lookahead_s sets its latency, which the mix compensates once for the whole render; it cannot move"
        return super().automation_problem(parameter)

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        ceiling = np.array([db_to_linear(self.ceiling_dbtp - SAFETY_MARGIN_DB)])
        return self._run(block, state, ceiling, np.array([one_pole_coefficient(self.release_s, self.sample_rate)]))

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        """The ceiling is read where the detector reports a peak: :data:`DETECTOR_HALF_TAPS` frames after the sample's own place."""
        if "ceiling_dbtp" in lanes.envelopes:
            detected = lanes.start_frame - DETECTOR_HALF_TAPS + np.arange(lanes.frames)
            ceiling = db_to_linear(lanes.at("ceiling_dbtp", detected) - SAFETY_MARGIN_DB)
        else:
            ceiling = np.array([db_to_linear(self.ceiling_dbtp - SAFETY_MARGIN_DB)])
        if "release_s" in lanes.envelopes:
            release = one_pole_coefficients(lanes.per_frame("release_s"), self.sample_rate)
        else:
            release = np.array([one_pole_coefficient(self.release_s, self.sample_rate)])
        return self._run(block, state, ceiling, release)

    def _run(self, block: np.ndarray, state: State, ceilings: np.ndarray, releases: np.ndarray) -> tuple[np.ndarray, State]:
        """The block limited to ``ceilings`` (linear, with the safety margin) with ``releases`` (one-pole coefficients), each one value or one per frame."""
        new_state = {name: np.array(value, copy=True) for name, value in state.items()}
        sums, differences, gain_bound = _folded_phases()
        out = np.empty_like(block)
        smallest_gain = _limit(
            block,
            state["history"],
            sums,
            differences,
            gain_bound * (1.0 + 1e-9),
            np.ascontiguousarray(ceilings, dtype=np.float64),
            np.ascontiguousarray(releases, dtype=np.float64),
            self.latency_samples,
            new_state["last_peak"],
            new_state["required_gain"],
            new_state["envelope"],
            new_state["gain_history"],
            new_state["gain_sum"],
            out,
        )
        kept = state["history"].shape[0]
        new_state["history"] = np.concatenate([state["history"], block[-kept:]], axis=0)[-kept:]
        reduction_db = -20.0 * math.log10(smallest_gain)
        new_state["max_gain_reduction_db"] = np.array(max(float(state["max_gain_reduction_db"]), reduction_db))
        return out, new_state
