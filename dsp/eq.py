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

import numpy as np

from .biquad import sosfilt
from .effect import Effect, State
from .errors import ParameterError
from .validate import check_choice, check_frequency, check_number

KINDS = ("highpass", "lowpass", "bell", "low_shelf", "high_shelf", "notch", "bandpass")
MODES = ("stereo", "mid", "side", "left", "right")
SLOPES_DB_OCT = (12, 24, 36, 48)
BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)
MAX_GAIN_DB = 48.0
_SETTLE_LEVEL = 1e-6


def butterworth_qs(order: int) -> list[float]:
    """Q of each second-order section of an even-order Butterworth filter, ascending."""
    sections = order // 2
    return sorted(1.0 / (2.0 * math.cos((2 * k - 1) * math.pi / (4 * sections))) for k in range(1, sections + 1))


def biquad(kind: str, freq_hz: float, sample_rate: float, gain_db: float = 0.0, q: float = BUTTERWORTH_Q) -> np.ndarray:
    """One RBJ cookbook section ``[b0, b1, b2, 1, a1, a2]`` (normalised by a0)."""
    w0 = 2.0 * math.pi * freq_hz / sample_rate
    cos_w0, sin_w0 = math.cos(w0), math.sin(w0)
    alpha = sin_w0 / (2.0 * q)
    amp = 10.0 ** (gain_db / 40.0)
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
        root = 2 * math.sqrt(amp) * alpha
        b = [
            amp * ((amp + 1) - (amp - 1) * cos_w0 + root),
            2 * amp * ((amp - 1) - (amp + 1) * cos_w0),
            amp * ((amp + 1) - (amp - 1) * cos_w0 - root),
        ]
        a = [(amp + 1) + (amp - 1) * cos_w0 + root, -2 * ((amp - 1) + (amp + 1) * cos_w0), (amp + 1) + (amp - 1) * cos_w0 - root]
    elif kind == "high_shelf":
        root = 2 * math.sqrt(amp) * alpha
        b = [
            amp * ((amp + 1) + (amp - 1) * cos_w0 + root),
            -2 * amp * ((amp - 1) + (amp + 1) * cos_w0),
            amp * ((amp + 1) + (amp - 1) * cos_w0 - root),
        ]
        a = [(amp + 1) - (amp - 1) * cos_w0 + root, 2 * ((amp - 1) - (amp + 1) * cos_w0), (amp + 1) - (amp - 1) * cos_w0 - root]
    else:
        check_choice("kind", kind, KINDS)
    return np.array(b + a) / a[0]


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
        if self.kind in ("highpass", "lowpass") and self.slope_db_oct > 12:
            qs = butterworth_qs(self.slope_db_oct // 6)
            qs[-1] *= self.q / BUTTERWORTH_Q
            return np.stack([biquad(self.kind, self.freq_hz, sample_rate, 0.0, q) for q in qs])
        return biquad(self.kind, self.freq_hz, sample_rate, self.gain_db, self.q)[np.newaxis, :]


@dataclasses.dataclass(frozen=True)
class Equalizer(Effect):
    """A parametric EQ: the enabled bands in order, as one cascade of biquads."""

    bands: tuple[EqBand, ...] = ()

    type_name: ClassVar[str] = "eq"

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

    def stages(self) -> list[tuple[str, np.ndarray]]:
        """The enabled bands as ``(mode, sections)``: each run of consecutive bands of one mode as one cascade."""
        stages: list[tuple[str, list[np.ndarray]]] = []
        for band in self.bands:
            if not band.enabled:
                continue
            if stages and stages[-1][0] == band.mode:
                stages[-1][1].append(band.sections(self.sample_rate))
            else:
                stages.append((band.mode, [band.sections(self.sample_rate)]))
        return [(mode, np.concatenate(sections, axis=0)) for mode, sections in stages]

    def _init_state(self, channels: int) -> State:
        if channels == 1:
            for index, band in enumerate(self.bands):
                if band.enabled and band.mode in ("left", "right"):
                    raise ParameterError(f"bands[{index}].mode: {band.mode} filters one channel of a stereo signal; this signal is mono")
        return {"zi": np.zeros((self.sos.shape[0], 2, channels))}

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """Each stage's cascade on its part of the signal; stage ``k`` keeps its filter memories in its rows of ``zi``
        (a one-channel part in the first column)."""
        zi = state["zi"].copy()
        out, first = block, 0
        for mode, sos in self.stages():
            rows = slice(first, first + sos.shape[0])
            first = rows.stop
            if mode == "stereo":
                out, zi[rows] = sosfilt(sos, out, state["zi"][rows])
            elif out.shape[1] == 1:
                if mode == "mid":
                    out, zi[rows] = sosfilt(sos, out, state["zi"][rows])
            else:
                out = self._filter_part(mode, sos, out, state["zi"][rows, :, :1], zi[rows, :, :1])
        return out, {"zi": zi}

    @staticmethod
    def _filter_part(mode: str, sos: np.ndarray, block: np.ndarray, zi: np.ndarray, zf: np.ndarray) -> np.ndarray:
        """Filter the ``mode`` part (mid, side, left or right) of a stereo ``block``; the new memories go into ``zf``."""
        left, right = block[:, :1], block[:, 1:]
        if mode in ("left", "right"):
            filtered, zf[...] = sosfilt(sos, left if mode == "left" else right, zi)
            return np.concatenate([filtered, right] if mode == "left" else [left, filtered], axis=1)
        mid, side = 0.5 * (left + right), 0.5 * (left - right)
        if mode == "mid":
            mid, zf[...] = sosfilt(sos, mid, zi)
        else:
            side, zf[...] = sosfilt(sos, side, zi)
        return np.concatenate([mid + side, mid - side], axis=1)
