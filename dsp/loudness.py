"""Loudness meter per ITU-R BS.1770-4 and EBU R128 (Tech 3341, Tech 3342).

What it measures, for a signal of 1 to 5 channels taken in the order L, R, C,
Ls, Rs with the BS.1770-4 channel weights 1, 1, 1, 1.41, 1.41 (mono and stereo
weigh 1.0; an LFE channel is not accepted):

- momentary loudness (400 ms windows) and short-term loudness (3 s windows),
  both every 100 ms, in LUFS, with their maxima (EBU Tech 3341);
- integrated loudness: 400 ms gating blocks at 75 % overlap, an absolute gate
  at -70 LUFS and a relative gate 10 LU below the loudness of the blocks
  above it (BS.1770-4 Annex 1, eqs. 4 to 7);
- loudness range (EBU Tech 3342): the short-term values, gated at -70 LUFS and
  20 LU below their own power mean, 95th minus 10th percentile;
- true peak (BS.1770-4 Annex 2, see :mod:`dsp.truepeak`) and sample peak.

How: the K-weighted signal (:mod:`dsp.kweighting`) is cut into segments of
``round(0.1 * sample_rate)`` frames on a grid anchored at frame 0 of the
signal, and each channel's sum of squares is kept per segment. A momentary
window is 4 segments, a short-term window 30, a gating block 4 stepping 1.
Only complete segments count, as the standard discards incomplete blocks.

Streaming is exact: fed in blocks of any sizes, :class:`LoudnessMeter` gives
bit-identical results to one fed the whole signal, because each segment's sum
runs over its samples in order, whether they came in one block or several.

Chunks measured apart merge exactly. A meter measures a chunk of a longer
signal given the chunk's absolute ``start_frame`` and either the
:class:`MeterState` of the meter of the previous chunk (exact) or
``preroll_frames`` of earlier signal to fill its filters and discard (exact to
rounding after :data:`dsp.kweighting.SETTLE_S`). Its :class:`LoudnessPartial`
keeps the K-weighted samples of the segments cut by the chunk's edges, so
partials of consecutive chunks merge into the partial of the whole::

    first = LoudnessMeter(48000, 2)
    first.process(signal[:n])
    second = LoudnessMeter(48000, 2, start_frame=n, state=first.state())
    second.process(signal[n:])
    report = LoudnessPartial.merge([first.partial(), second.partial()]).report()

or, where the second chunk runs without waiting for the first, with ``p``
frames of pre-roll (``p >= SETTLE_S * sample_rate``)::

    second = LoudnessMeter(48000, 2, start_frame=n, preroll_frames=p)
    second.process(signal[n - p:])

Gates compare strictly (a block exactly at a threshold is dropped), as in
BS.1770-4 eqs. 5 and 6.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numba
import numpy as np

from . import kweighting, truepeak
from .biquad import section_pair_coefficients, section_pair_step
from .errors import ParameterError
from .units import linear_to_db, power_to_db
from .validate import check_block, check_sample_rate

CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
"""BS.1770-4 weights G for channels L, R, C, Ls, Rs, in that order."""

LOUDNESS_OFFSET_DB = -0.691
"""BS.1770-4 eq. 2: makes a 997 Hz sine at 0 dBFS in one channel read -3.01 LKFS."""

SEGMENT_S = 0.1
MOMENTARY_SEGMENTS = 4
SHORT_TERM_SEGMENTS = 30
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
RANGE_RELATIVE_GATE_LU = -20.0
RANGE_PERCENTILES = (10.0, 95.0)


def segment_frames(sample_rate: float) -> int:
    """Frames in one 100 ms segment at ``sample_rate`` (Hz): ``round(0.1 * sample_rate)``."""
    return int(round(SEGMENT_S * check_sample_rate(sample_rate)))


@dataclasses.dataclass(frozen=True, eq=False)
class LoudnessReport:
    """What the meter read. Levels in LUFS, ranges in LU, peaks in dBTP/dBFS.

    Loudness of silence, or of a signal too short for one window, is ``-inf``;
    ``loudness_range_lu`` is 0.0 when no short-term value passes its gates.
    ``momentary_lufs[k]`` covers segments ``k`` to ``k + 3`` and
    ``short_term_lufs[k]`` segments ``k`` to ``k + 29``, counted from the first
    complete segment (segments of ``round(0.1 * sample_rate)`` frames): for a
    whole signal, the windows ending at ``(k + 4) * 100 ms`` and ``(k + 30) * 100 ms``.
    """

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    momentary_max_lufs: float
    short_term_max_lufs: float
    duration_s: float
    sample_rate: float
    channels: int
    true_peak_oversampling: int
    momentary_lufs: np.ndarray
    short_term_lufs: np.ndarray

    def to_dict(self) -> dict[str, float | int | None]:
        """Scalar fields as JSON-ready values: ``-inf`` and NaN become ``None``, a whole
        sample rate an int; arrays are left out."""
        result: dict[str, float | int | None] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif field.name == "sample_rate" and float(value).is_integer():
                value = int(value)
            result[field.name] = value
        return result


@dataclasses.dataclass(frozen=True, eq=False)
class MeterState:
    """Filter state a meter hands to the meter of the next chunk (plain numpy, picklable).

    Attributes
    ----------
    k_filter_zi : numpy.ndarray
        K-weighting biquad state, shape (2, 2, channels), as for
        :func:`scipy.signal.sosfilt` along axis 0.
    true_peak_history : numpy.ndarray
        The last frames fed, shape (taps - 1, channels), for the true-peak interpolator.
    """

    k_filter_zi: np.ndarray
    true_peak_history: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class LoudnessPartial:
    """What a meter gathered over frames ``[start_frame, end_frame)`` of a signal.

    Plain numpy data that pickles. Segments lie on a grid of
    ``segment_frames(sample_rate)`` frames anchored at frame 0.

    Attributes
    ----------
    lead : numpy.ndarray
        K-weighted samples from ``start_frame`` to the first segment boundary,
        shape (frames, channels); all the samples if the span reaches no boundary.
    energies : numpy.ndarray
        Per-channel sums of squared K-weighted samples of each complete
        segment in the span, shape (segments, channels).
    trail : numpy.ndarray
        K-weighted samples from the last segment boundary to ``end_frame``.
    interpolated_peak, sample_peak : numpy.ndarray
        Per-channel largest oversampled and sample magnitudes (linear).
    true_peak_history : numpy.ndarray
        The last taps - 1 frames, to flush the true-peak interpolator at the end.
    """

    sample_rate: float
    channels: int
    true_peak_oversampling: int
    start_frame: int
    end_frame: int
    lead: np.ndarray
    energies: np.ndarray
    trail: np.ndarray
    interpolated_peak: np.ndarray
    sample_peak: np.ndarray
    true_peak_history: np.ndarray

    @classmethod
    def merge(cls, partials: Sequence[LoudnessPartial]) -> LoudnessPartial:
        """Join the partials of consecutive chunks, in order, into the partial of their union.

        A segment cut by a join is summed from the two pieces put back
        together, so the result equals the partial of one meter fed all of it.

        Raises
        ------
        ParameterError
            If ``partials`` is empty, if they differ in sample rate, channels
            or true-peak oversampling, or if one does not start where the
            previous one ended.
        """
        partials = list(partials)
        if not partials:
            raise ParameterError("partials: must hold at least one LoudnessPartial, got none")
        first = partials[0]
        segments = _Segments.resume(first)
        interpolated = first.interpolated_peak.copy()
        sampled = first.sample_peak.copy()
        for previous, partial in zip(partials, partials[1:]):
            setting = (partial.sample_rate, partial.channels, partial.true_peak_oversampling)
            expected = (first.sample_rate, first.channels, first.true_peak_oversampling)
            if setting != expected:
                raise ParameterError(
                    "partials: must share (sample_rate, channels, true_peak_oversampling), "
                    f"got {expected} and {setting}"
                )
            if partial.start_frame != previous.end_frame:
                raise ParameterError(
                    "partials: must be consecutive (each start_frame equal to the previous end_frame), "
                    f"got end_frame {previous.end_frame} then start_frame {partial.start_frame}"
                )
            segments.append_samples(partial.lead)
            segments.append_energies(partial.energies)
            segments.append_samples(partial.trail)
            np.maximum(interpolated, partial.interpolated_peak, out=interpolated)
            np.maximum(sampled, partial.sample_peak, out=sampled)
        return segments.partial(
            first.true_peak_oversampling, interpolated, sampled, partials[-1].true_peak_history
        )

    def report(self) -> LoudnessReport:
        """The loudness report of the span, from its complete segments only."""
        frames = segment_frames(self.sample_rate)
        weights = np.asarray(CHANNEL_WEIGHTS[: self.channels])
        segment_power = (self.energies @ weights) / frames
        momentary_power = _window_means(segment_power, MOMENTARY_SEGMENTS)
        short_term_power = _window_means(segment_power, SHORT_TERM_SEGMENTS)
        momentary = _lufs(momentary_power)
        short_term = _lufs(short_term_power)
        true_peak = truepeak.true_peak_from_parts(
            self.interpolated_peak,
            self.sample_peak,
            self.true_peak_history,
            self.true_peak_oversampling,
            self.sample_rate,
        )
        return LoudnessReport(
            integrated_lufs=integrated_loudness(momentary_power),
            loudness_range_lu=loudness_range(short_term_power),
            true_peak_dbtp=float(linear_to_db(true_peak.max())),
            sample_peak_dbfs=float(linear_to_db(self.sample_peak.max())),
            momentary_max_lufs=float(momentary.max(initial=-np.inf)),
            short_term_max_lufs=float(short_term.max(initial=-np.inf)),
            duration_s=(self.end_frame - self.start_frame) / self.sample_rate,
            sample_rate=self.sample_rate,
            channels=self.channels,
            true_peak_oversampling=self.true_peak_oversampling,
            momentary_lufs=momentary,
            short_term_lufs=short_term,
        )


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R128 meter.

    Parameters
    ----------
    sample_rate : float
        Hz.
    channels : int
        1 to 5, in the order L, R, C, Ls, Rs.
    true_peak_oversampling : int
        4 (BS.1770-4 Annex 2) or 8; halved at 96 kHz and up (see :mod:`dsp.truepeak`).
    start_frame : int
        Absolute frame, in the whole signal, of the first measured frame
        (after any pre-roll). Places the segment grid; 0 for a whole signal.
    preroll_frames : int
        Frames fed first that only fill the filters and are not measured
        (the frames just before ``start_frame``).
    state : MeterState, optional
        Filter state from :meth:`state` of the meter of the previous chunk;
        silence before the signal when omitted.
    """

    def __init__(
        self,
        sample_rate: float,
        channels: int,
        true_peak_oversampling: int = 4,
        start_frame: int = 0,
        preroll_frames: int = 0,
        state: MeterState | None = None,
    ) -> None:
        self.sample_rate = check_sample_rate(sample_rate)
        if (
            isinstance(channels, bool)
            or not isinstance(channels, (int, np.integer))
            or not 1 <= channels <= len(CHANNEL_WEIGHTS)
        ):
            raise ParameterError(f"channels: must be an integer from 1 to 5 (L, R, C, Ls, Rs), got {channels!r}")
        self.channels = int(channels)
        self.true_peak_oversampling = truepeak.check_oversampling(true_peak_oversampling, "true_peak_oversampling")
        self._preroll_left = _check_frame_count("preroll_frames", preroll_frames)
        self._sos = kweighting.sos(self.sample_rate)
        history_shape = (truepeak.history_frames(self.true_peak_oversampling), self.channels)
        if state is None:
            self._zi = np.zeros((self._sos.shape[0], 2, self.channels))
            self._history = np.zeros(history_shape)
        else:
            zi_shape = (self._sos.shape[0], 2, self.channels)
            self._zi = _check_state_array("state.k_filter_zi", state.k_filter_zi, zi_shape)
            self._history = _check_state_array("state.true_peak_history", state.true_peak_history, history_shape)
        self._segments = _Segments(_check_frame_count("start_frame", start_frame), self.sample_rate, self.channels)
        self._interpolated_peak = np.zeros(self.channels)
        self._sample_peak = np.zeros(self.channels)

    def process(self, block: np.ndarray) -> None:
        """Feed the next block of samples, shape (frames, channels)."""
        block = check_block(block, channels=self.channels, sample_rate=self.sample_rate)
        skip = min(self._preroll_left, block.shape[0])
        self._preroll_left -= skip
        head, energies, tail, self._zi = _k_weighted_energies(
            block, self._sos, self._zi, skip, self._segments.frames_to_boundary(), segment_frames(self.sample_rate)
        )
        self._segments.append_samples(head)
        self._segments.append_energies(energies)
        self._segments.append_samples(tail)
        interpolated, sampled, self._history = truepeak.block_peaks(
            block, self._history, self.true_peak_oversampling, self.sample_rate, skip
        )
        np.maximum(self._interpolated_peak, interpolated, out=self._interpolated_peak)
        np.maximum(self._sample_peak, sampled, out=self._sample_peak)

    def state(self) -> MeterState:
        """Filter state after the frames fed so far, for the meter of the next chunk."""
        return MeterState(k_filter_zi=self._zi.copy(), true_peak_history=self._history.copy())

    def partial(self) -> LoudnessPartial:
        """What was measured so far, to merge with the partials of neighbouring chunks."""
        return self._segments.partial(
            self.true_peak_oversampling, self._interpolated_peak.copy(), self._sample_peak.copy(), self._history.copy()
        )

    def report(self) -> LoudnessReport:
        """The report of what was measured so far."""
        return self.partial().report()


def measure(signal: np.ndarray, sample_rate: float, true_peak_oversampling: int = 4) -> LoudnessReport:
    """Measure a whole ``signal`` shaped (frames, channels) at ``sample_rate`` (Hz)."""
    signal = check_block(signal, sample_rate=sample_rate)
    meter = LoudnessMeter(sample_rate, signal.shape[1], true_peak_oversampling)
    meter.process(signal)
    return meter.report()


def integrated_loudness(block_power: np.ndarray) -> float:
    """Gated loudness (LUFS) of 400 ms blocks' channel-weighted mean squares (BS.1770-4 eqs. 4 to 7).

    ``-inf`` when no block is above the absolute gate.
    """
    block_loudness = _lufs(block_power)
    above_absolute = block_loudness > ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return -math.inf
    relative_gate = _lufs(block_power[above_absolute].mean()) + RELATIVE_GATE_LU
    gated = above_absolute & (block_loudness > relative_gate)
    return float(_lufs(block_power[gated].mean()))


def loudness_range(short_term_power: np.ndarray) -> float:
    """Loudness range (LU) of 3 s windows' channel-weighted mean squares (EBU Tech 3342).

    Gates at -70 LUFS and 20 LU below the power mean of the values above it,
    then takes the 95th minus the 10th percentile, each the sorted value at
    index ``round((n - 1) * p / 100)``. 0.0 when no value passes.
    """
    short_term = _lufs(short_term_power)
    above_absolute = short_term > ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return 0.0
    relative_gate = _lufs(short_term_power[above_absolute].mean()) + RANGE_RELATIVE_GATE_LU
    values = np.sort(short_term[above_absolute & (short_term > relative_gate)])
    low, high = (values[int(math.floor((values.size - 1) * p / 100.0 + 0.5))] for p in RANGE_PERCENTILES)
    return float(high - low)


class _Segments:
    """Cuts a stream of K-weighted frames at the segment grid and sums each complete segment."""

    def __init__(self, start_frame: int, sample_rate: float, channels: int) -> None:
        self.start_frame = start_frame
        self.end_frame = start_frame
        self._sample_rate = sample_rate
        self._frames = segment_frames(sample_rate)
        self._channels = channels
        # None until the first segment boundary is reached; then the samples before it.
        self._lead: np.ndarray | None = None if start_frame % self._frames else np.zeros((0, channels))
        self._energies: list[np.ndarray] = []
        self._open: list[np.ndarray] = []

    @classmethod
    def resume(cls, partial: LoudnessPartial) -> _Segments:
        segments = cls(partial.start_frame, partial.sample_rate, partial.channels)
        segments.append_samples(partial.lead)
        segments.append_energies(partial.energies)
        segments.append_samples(partial.trail)
        return segments

    def frames_to_boundary(self) -> int:
        """Frames from the end so far to the next segment boundary (0 when on one)."""
        return -self.end_frame % self._frames

    def append_samples(self, weighted: np.ndarray) -> None:
        """Append K-weighted frames that end at or before the next segment boundary."""
        if weighted.shape[0]:
            self._open.append(weighted)
            self.end_frame += weighted.shape[0]
            if self.end_frame % self._frames == 0:
                self._close_open_segment()

    def append_energies(self, energies: np.ndarray) -> None:
        """Append the energies of complete segments; the end must lie on a boundary."""
        if energies.shape[0]:
            self._energies.append(energies)
            self.end_frame += energies.shape[0] * self._frames

    def partial(
        self,
        true_peak_oversampling: int,
        interpolated_peak: np.ndarray,
        sample_peak: np.ndarray,
        true_peak_history: np.ndarray,
    ) -> LoudnessPartial:
        open_samples = np.concatenate(self._open, axis=0) if self._open else np.zeros((0, self._channels))
        if self._lead is None:
            lead, trail = open_samples, np.zeros((0, self._channels))
        else:
            lead, trail = self._lead, open_samples
        energies = np.concatenate(self._energies, axis=0) if self._energies else np.zeros((0, self._channels))
        return LoudnessPartial(
            sample_rate=self._sample_rate,
            channels=self._channels,
            true_peak_oversampling=true_peak_oversampling,
            start_frame=self.start_frame,
            end_frame=self.end_frame,
            lead=lead,
            energies=energies,
            trail=trail,
            interpolated_peak=interpolated_peak,
            sample_peak=sample_peak,
            true_peak_history=true_peak_history,
        )

    def _close_open_segment(self) -> None:
        samples = np.concatenate(self._open, axis=0)
        self._open = []
        if self._lead is None:
            self._lead = samples
        else:
            self._energies.append(_sum_squares(samples)[np.newaxis])


def _window_means(segment_power: np.ndarray, segments: int) -> np.ndarray:
    if segment_power.size < segments:
        return np.zeros(0)
    return np.lib.stride_tricks.sliding_window_view(segment_power, segments).mean(axis=-1)


def _lufs(power: float | np.ndarray) -> float | np.ndarray:
    return power_to_db(power) + LOUDNESS_OFFSET_DB


def _check_frame_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ParameterError(f"{name}: must be a non-negative integer, got {value!r}")
    return int(value)


def _check_state_array(name: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise ParameterError(f"{name}: must have shape {shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ParameterError(f"{name}: must be finite")
    return array.copy()


# Both kernels sum a segment's squared K-weighted samples in order, starting
# from 0.0, with the same arithmetic: a segment assembled from pieces sums
# bit-identically to one met whole inside a block.


@numba.njit(cache=True, nogil=True)
def _sum_squares(weighted):
    channels = weighted.shape[1]
    energies = np.zeros(channels)
    for c in range(channels):
        total = 0.0
        for n in range(weighted.shape[0]):
            value = weighted[n, c]
            total += value * value
        energies[c] = total
    return energies


@numba.njit(cache=True, nogil=True)
def _k_weighted_energies(block, sos, zi, skip_frames, head_frames, segment):
    # K-weights ``block`` from state ``zi`` with the two biquads in transposed
    # direct form II, the arithmetic of scipy.signal.sosfilt. Past the first
    # ``skip_frames`` frames it returns the first ``head_frames`` K-weighted
    # frames, the energies of the complete segments after them, the frames
    # left over, and the new state.
    frames, channels = block.shape
    measured = frames - skip_frames
    head_count = min(head_frames, measured)
    complete = (measured - head_count) // segment
    tail_start = skip_frames + head_count + complete * segment
    head = np.empty((head_count, channels))
    energies = np.zeros((complete, channels))
    tail = np.empty((frames - tail_start, channels))
    state = zi.copy()
    coefficients = section_pair_coefficients(sos, 0)
    for c in range(channels):
        filter_state = (state[0, 0, c], state[0, 1, c], state[1, 0, c], state[1, 1, c])
        index = 0
        filled = 0
        total = 0.0
        for n in range(frames):
            y, filter_state = section_pair_step(block[n, c], coefficients, filter_state)
            m = n - skip_frames
            if m < 0:
                continue
            if m < head_count:
                head[m, c] = y
            elif n >= tail_start:
                tail[n - tail_start, c] = y
            else:
                total += y * y
                filled += 1
                if filled == segment:
                    energies[index, c] = total
                    index += 1
                    filled = 0
                    total = 0.0
        state[0, 0, c], state[0, 1, c], state[1, 0, c], state[1, 1, c] = filter_state
    return head, energies, tail, state
