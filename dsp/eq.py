"""Parametric EQ from the RBJ Audio EQ Cookbook biquads.

Each band is one or more second-order sections designed by the bilinear
transform with frequency pre-warping (R. Bristow-Johnson, "Cookbook formulae
for audio EQ biquad filter coefficients"; W3C Audio EQ Cookbook), so the
response at ``freq_hz`` is exactly the analogue prototype's at any sample rate:

========== ======================================================
kind       magnitude at ``freq_hz``
========== ======================================================
bell       ``gain_db``
low_shelf  ``gain_db / 2`` (``gain_db`` towards DC)
high_shelf ``gain_db / 2`` (``gain_db`` towards Nyquist)
highpass   ``20 log10(q)`` for 12 dB/oct; -3.01 dB for steeper at q 0.707
lowpass    as highpass
notch      zero
bandpass   0 dB (constant peak gain)
========== ======================================================

Each band filters the whole signal (``mode`` ``stereo``) or one part of a
stereo signal: its mid ``M = (L + R) / 2``, its side ``S = (L - R) / 2``
(the mid-side pair returns to left and right as ``L = M + S``, ``R = M - S``),
or its left or right channel alone. Bands run in their order, so a mid band
after a stereo band filters the stereo band's output. A mono signal is its
own mid and has no side: mid bands filter it and side bands leave it as it
is; left and right bands need two channels.

Highpass and lowpass take ``slope_db_oct`` of 12, 24, 36 or 48: a cascade of
``slope_db_oct / 12`` sections with the Q values of a Butterworth filter of
that order, the most resonant of them scaled by ``q / 0.7071`` (so q 0.707
gives a Butterworth response). The cascade runs through
:func:`dsp.biquad.sosfilt` (``scipy.signal.sosfilt``'s arithmetic) with its
state carried, so blocks of any size give bit-identical output.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numba
import numpy as np

from .automation import CONTROL_PERIOD_FRAMES, Lanes
from .biquad import (
    load_pair_state,
    section_pair_coefficients,
    section_pair_step,
    sosfilt,
    store_pair_state,
)
from .effect import Effect, State
from .errors import ParameterError
from .validate import check_choice, check_frequency, check_number

KINDS = ("highpass", "lowpass", "bell", "low_shelf", "high_shelf", "notch", "bandpass")
MODES = ("stereo", "mid", "side", "left", "right")
SLOPES_DB_OCT = (12, 24, 36, 48)
BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)
MAX_GAIN_DB = 48.0
_SETTLE_LEVEL = 1e-6
PASS_THROUGH = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
_PERIOD_FRACTION = 1.0 / CONTROL_PERIOD_FRAMES
"""One frame's share of a control period: a power of two, so ``i * _PERIOD_FRACTION`` is exactly ``i / period``."""


def butterworth_qs(order: int) -> list[float]:
    """Q of each second-order section of an even-order Butterworth filter, ascending."""
    sections = order // 2
    return sorted(1.0 / (2.0 * math.cos((2 * k - 1) * math.pi / (4 * sections))) for k in range(1, sections + 1))


def biquad(kind: str, freq_hz, sample_rate: float, gain_db=0.0, q=BUTTERWORTH_Q) -> np.ndarray:
    """One RBJ cookbook section ``[b0, b1, b2, 1, a1, a2]`` (normalised by a0).

    ``freq_hz``, ``gain_db`` and ``q`` may be arrays of one shape: the result
    then holds one section per element, shape (..., 6).
    """
    w0 = 2.0 * np.pi * np.asarray(freq_hz, dtype=np.float64) / sample_rate
    cos_w0, sin_w0 = np.cos(w0), np.sin(w0)
    alpha = sin_w0 / (2.0 * np.asarray(q, dtype=np.float64))
    amp = 10.0 ** (np.asarray(gain_db, dtype=np.float64) / 40.0)
    if kind == "lowpass":
        b = [(1 - cos_w0) / 2, 1 - cos_w0, (1 - cos_w0) / 2]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "bandpass":
        b = [alpha, 0.0, -alpha]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "notch":
        b = [1.0, -2 * cos_w0, 1.0]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "bell":
        b = [1 + alpha * amp, -2 * cos_w0, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cos_w0, 1 - alpha / amp]
    elif kind == "low_shelf":
        root = 2 * np.sqrt(amp) * alpha
        b = [
            amp * ((amp + 1) - (amp - 1) * cos_w0 + root),
            2 * amp * ((amp - 1) - (amp + 1) * cos_w0),
            amp * ((amp + 1) - (amp - 1) * cos_w0 - root),
        ]
        a = [(amp + 1) + (amp - 1) * cos_w0 + root, -2 * ((amp - 1) + (amp + 1) * cos_w0), (amp + 1) + (amp - 1) * cos_w0 - root]
    elif kind == "high_shelf":
        root = 2 * np.sqrt(amp) * alpha
        b = [
            amp * ((amp + 1) + (amp - 1) * cos_w0 + root),
            -2 * amp * ((amp - 1) + (amp + 1) * cos_w0),
            amp * ((amp + 1) + (amp - 1) * cos_w0 - root),
        ]
        a = [(amp + 1) - (amp - 1) * cos_w0 + root, 2 * ((amp - 1) - (amp + 1) * cos_w0), (amp + 1) - (amp - 1) * cos_w0 - root]
    else:
        check_choice("kind", kind, KINDS)
    coefficients = np.stack(np.broadcast_arrays(*b, *a), axis=-1)
    return coefficients / coefficients[..., 3:4]


@numba.njit(inline="always")
def _ramp(base: tuple, slope: tuple, t: float) -> tuple:
    """``base + slope * t``, element by element, for a section pair's ten coefficients."""
    return (
        base[0] + slope[0] * t,
        base[1] + slope[1] * t,
        base[2] + slope[2] * t,
        base[3] + slope[3] * t,
        base[4] + slope[4] * t,
        base[5] + slope[5] * t,
        base[6] + slope[6] * t,
        base[7] + slope[7] * t,
        base[8] + slope[8] * t,
        base[9] + slope[9] * t,
    )


@numba.njit(inline="always")
def _slope(start: tuple, end: tuple) -> tuple:
    """``end - start``, element by element, for a section pair's ten coefficients."""
    return (
        end[0] - start[0],
        end[1] - start[1],
        end[2] - start[2],
        end[3] - start[3],
        end[4] - start[4],
        end[5] - start[5],
        end[6] - start[6],
        end[7] - start[7],
        end[8] - start[8],
        end[9] - start[9],
    )


def ramped_cascade(block: np.ndarray, zi: np.ndarray, grid_sos: np.ndarray, phase: int) -> np.ndarray:
    """Filter ``block`` (frames, channels) through sections whose coefficients ramp between control points (see :func:`_ramped_cascade`).

    The output is allocated by numpy, which gives a large array huge pages;
    numba's own allocation would take a page fault every 4 KiB.
    """
    out = np.array(block, dtype=np.float64, order="C", copy=True)
    _ramped_cascade(out, zi, grid_sos, phase)
    return out


@numba.njit(cache=True, nogil=True)
def _ramped_cascade(out, zi, grid_sos, phase):
    """Filter ``out`` (frames, channels) in place through sections whose coefficients ramp between control points.

    ``grid_sos`` (points, sections, 6), an even number of sections, holds them
    at control points :data:`~dsp.automation.CONTROL_PERIOD_FRAMES` apart, the
    first ``phase`` frames before the block's first frame; between two points
    each coefficient moves in a straight line, ``c = c_k + (c_k+1 - c_k) * i / period``
    at the period's ``i``-th frame, whatever block the frame falls in. Two
    sections at a time on two channels at a time, as :func:`dsp.biquad.sosfilt`
    runs them (its arithmetic, operation for operation); ``zi``
    (sections, 2, channels) is updated in place.
    """
    frames, channels = out.shape
    for s in range(0, grid_sos.shape[1], 2):
        for c in range(0, channels, 2):
            stereo = c + 1 < channels
            left = load_pair_state(zi, s, c)
            right = load_pair_state(zi, s, c + 1) if stereo else left
            point = phase // CONTROL_PERIOD_FRAMES
            step = phase - point * CONTROL_PERIOD_FRAMES
            n = 0
            while n < frames:
                count = min(CONTROL_PERIOD_FRAMES - step, frames - n)
                base = section_pair_coefficients(grid_sos[point], s)
                slope = _slope(base, section_pair_coefficients(grid_sos[point + 1], s))
                for i in range(count):
                    coefficients = _ramp(base, slope, (step + i) * _PERIOD_FRACTION)
                    out[n + i, c], left = section_pair_step(out[n + i, c], coefficients, left)
                    if stereo:
                        out[n + i, c + 1], right = section_pair_step(out[n + i, c + 1], coefficients, right)
                n += count
                step = 0
                point += 1
            store_pair_state(zi, s, c, left)
            if stereo:
                store_pair_state(zi, s, c + 1, right)


@dataclasses.dataclass(frozen=True)
class EqBand:
    """One EQ band, as in the session format's ``eq`` effect.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    freq_hz : float
        Centre, corner or shelf midpoint frequency in Hz, below Nyquist.
    gain_db : float
        Boost or cut for bell and shelves, within +-48 dB (other kinds ignore it
        and reject a non-zero value).
    q : float
        Quality factor, > 0 (shelves: the cookbook's Q form of the slope).
    slope_db_oct : int
        12, 24, 36 or 48, for highpass and lowpass.
    enabled : bool
        A disabled band passes the signal unchanged.
    mode : str
        What the band filters: ``stereo`` (every channel), ``mid``, ``side``,
        ``left`` or ``right``.
    """

    kind: str
    freq_hz: float
    gain_db: float = 0.0
    q: float = BUTTERWORTH_Q
    slope_db_oct: int = 12
    enabled: bool = True
    mode: str = "stereo"

    def check(self, sample_rate: float, name: str = "band") -> None:
        """Raise ParameterError, prefixed with ``name``, if a field breaks its rule."""
        check_choice(f"{name}.kind", self.kind, KINDS)
        check_frequency(f"{name}.freq_hz", self.freq_hz, sample_rate)
        check_number(f"{name}.gain_db", self.gain_db, minimum=-MAX_GAIN_DB, maximum=MAX_GAIN_DB)
        check_number(f"{name}.q", self.q, exclusive_minimum=0.0, maximum=100.0)
        check_choice(f"{name}.slope_db_oct", self.slope_db_oct, SLOPES_DB_OCT)
        check_choice(f"{name}.mode", self.mode, MODES)
        if self.slope_db_oct != 12 and self.kind not in ("highpass", "lowpass"):
            raise ParameterError(f"{name}.slope_db_oct: applies to highpass and lowpass only, got {self.slope_db_oct} for {self.kind}")
        if self.gain_db != 0.0 and self.kind not in ("bell", "low_shelf", "high_shelf"):
            raise ParameterError(f"{name}.gain_db: applies to bell and shelves only, got {self.gain_db:g} for {self.kind}")

    def sections(self, sample_rate: float) -> np.ndarray:
        """Second-order sections (n, 6) of this band at ``sample_rate``."""
        return self.sections_at(sample_rate, self.freq_hz, self.gain_db, self.q)

    def sections_at(self, sample_rate: float, freq_hz, gain_db, q) -> np.ndarray:
        """The band's sections with ``freq_hz``, ``gain_db`` and ``q`` in place of its own: shape (n, 6), or
        (..., n, 6) for arrays of values."""
        freq_hz, gain_db, q = np.broadcast_arrays(*(np.asarray(value, dtype=np.float64) for value in (freq_hz, gain_db, q)))
        if self.kind in ("highpass", "lowpass") and self.slope_db_oct > 12:
            qs = butterworth_qs(self.slope_db_oct // 6)
            scale = np.asarray(q, dtype=np.float64) / BUTTERWORTH_Q
            return np.stack([biquad(self.kind, freq_hz, sample_rate, 0.0, base_q * (scale if index == len(qs) - 1 else 1.0)) for index, base_q in enumerate(qs)], axis=-2)
        return biquad(self.kind, freq_hz, sample_rate, gain_db, q)[..., np.newaxis, :]


@dataclasses.dataclass(frozen=True)
class Equalizer(Effect):
    """A parametric EQ: the enabled bands in order, as one cascade of biquads."""

    bands: tuple[EqBand, ...] = ()

    type_name: ClassVar[str] = "eq"
    automatable: ClassVar[tuple[str, ...]] = ("bands.*.gain_db", "bands.*.freq_hz", "bands.*.q")

    def _validate(self) -> None:
        object.__setattr__(self, "bands", tuple(self.bands))
        for index, band in enumerate(self.bands):
            if not isinstance(band, EqBand):
                raise ParameterError(f"bands[{index}]: must be an EqBand, got {type(band).__name__}")
            band.check(self.sample_rate, f"bands[{index}]")

    @property
    def sos(self) -> np.ndarray:
        """All enabled bands' second-order sections, shape (n, 6); n may be 0."""
        sections = [band.sections(self.sample_rate) for band in self.bands if band.enabled]
        return np.concatenate(sections, axis=0) if sections else np.zeros((0, 6))

    @property
    def settle_s(self) -> float:
        """Time for the slowest pole to decay by 120 dB, in seconds."""
        sos = self.sos
        if sos.shape[0] == 0:
            return 0.0
        radius = max(float(np.max(np.abs(np.roots(section[3:])))) for section in sos)
        return math.log(_SETTLE_LEVEL) / math.log(radius) / self.sample_rate if radius > 0 else 0.0

    @property
    def tail_s(self) -> float:
        """The filters ring out as they settle: the same time as :attr:`settle_s`."""
        return self.settle_s

    def _stages(self) -> list[tuple[str, list[int]]]:
        """The enabled bands as ``(mode, band indices)``: runs of consecutive bands of one mode, each filtered as one cascade."""
        stages: list[tuple[str, list[int]]] = []
        for index, band in enumerate(self.bands):
            if not band.enabled:
                continue
            if stages and stages[-1][0] == band.mode:
                stages[-1][1].append(index)
            else:
                stages.append((band.mode, [index]))
        return stages

    def _init_state(self, channels: int) -> State:
        if channels == 1:
            for index, band in enumerate(self.bands):
                if band.enabled and band.mode in ("left", "right"):
                    raise ParameterError(f"bands[{index}].mode: {band.mode} filters one channel of a stereo signal; this signal is mono")
        return {"zi": np.zeros((self.sos.shape[0], 2, channels))}

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._run(block, state, None)

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        return self._run(block, state, lanes)

    def _run(self, block: np.ndarray, state: State, lanes: Lanes | None) -> tuple[np.ndarray, State]:
        """Each stage's cascade on its part of the signal; stage ``k`` keeps its filter memories in its rows of ``zi``
        (a one-channel part in the first column). An automated band's coefficients ramp between control points."""
        band_lanes = {index: lanes.prefixed(f"bands.{index}.") for index in range(len(self.bands))} if lanes is not None else {}
        automated = {index for index, found in band_lanes.items() if found.envelopes}
        zi = state["zi"].copy()
        out, first = block, 0
        for mode, indices in self._stages():
            if automated.intersection(indices):
                grid_sos, phase = self._control_points(indices, band_lanes)
                count = sum(self.bands[index].sections(self.sample_rate).shape[0] for index in indices)

                def run(part, part_zi, grid_sos=grid_sos, phase=phase, count=count):
                    memories = np.zeros((grid_sos.shape[1], 2, part.shape[1]))
                    memories[:count] = part_zi
                    return ramped_cascade(np.ascontiguousarray(part), memories, grid_sos, phase), memories[:count]

            else:
                sos = np.concatenate([self.bands[index].sections(self.sample_rate) for index in indices], axis=0)
                count = sos.shape[0]

                def run(part, part_zi, sos=sos):
                    return sosfilt(sos, part, part_zi)

            rows = slice(first, first + count)
            first = rows.stop
            if mode == "stereo" or (mode == "mid" and out.shape[1] == 1):
                out, zi[rows] = run(out, state["zi"][rows])
            elif out.shape[1] == 2:
                out = self._filter_part(mode, run, out, state["zi"][rows, :, :1], zi[rows, :, :1])
        return out, {"zi": zi}

    def _control_points(self, indices: list[int], band_lanes: dict[int, Lanes]) -> tuple[np.ndarray, int]:
        """The sections of bands ``indices`` at every control point that the block's frames lie between, padded to
        an even count with a pass-through section, and how many frames the first point lies before the block:
        ``(points, sections, 6)``, phase."""
        frames, phase = band_lanes[indices[0]].control_points()
        grids = []
        for index in indices:
            band, automated = self.bands[index], band_lanes[index].envelopes
            values = [band_lanes[index].at(name, frames) if name in automated else np.full(frames.shape, float(getattr(band, name))) for name in ("freq_hz", "gain_db", "q")]
            grids.append(band.sections_at(self.sample_rate, *values))
        grid_sos = np.concatenate(grids, axis=1)
        if grid_sos.shape[1] % 2:
            grid_sos = np.concatenate([grid_sos, np.broadcast_to(PASS_THROUGH, (grid_sos.shape[0], 1, 6))], axis=1)
        return np.ascontiguousarray(grid_sos), phase

    @staticmethod
    def _filter_part(mode: str, run, block: np.ndarray, zi: np.ndarray, zf: np.ndarray) -> np.ndarray:
        """Filter the ``mode`` part (mid, side, left or right) of a stereo ``block`` with ``run(part, zi) -> (out, zf)``;
        the new memories go into ``zf``."""
        left, right = block[:, :1], block[:, 1:]
        if mode in ("left", "right"):
            filtered, zf[...] = run(left if mode == "left" else right, zi)
            return np.concatenate([filtered, right] if mode == "left" else [left, filtered], axis=1)
        mid, side = 0.5 * (left + right), 0.5 * (left - right)
        if mode == "mid":
            mid, zf[...] = run(mid, zi)
        else:
            side, zf[...] = run(side, zi)
        return np.concatenate([mid + side, mid - side], axis=1)
