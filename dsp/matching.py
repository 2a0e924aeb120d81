"""Reference matching: the tonal balance of a finished master, measured and applied to a mix.

The method (spectral matching, as mastering engineers use it):

1. **Long-term spectra.** A signal is cut into Hann-windowed frames of about
   0.17 s (:func:`frame_frames`), half overlapping, on one grid from frame 0,
   so a frame's values do not depend on how the signal was split into
   chunks. Each frame's power spectrum is taken for mid ``(L + R) / 2`` and
   side ``(L - R) / 2`` separately and summed into bands a twelfth of an
   octave apart from 20 Hz (:func:`band_centres_hz`), each band a triangle
   reaching its neighbours' centres (a band narrower than the frame's bin
   spacing interpolates between the two nearest bins).
2. **Loud passages.** Each frame is judged by the level of the
   :data:`PASSAGE_S` around it; only frames whose passage is within
   :data:`LOUD_PASSAGE_DB` of the signal's loud level (the 95th percentile
   of passage levels) count, so quiet intros, breaks and fades do not tilt
   the average; passages below :data:`SILENCE_DB` never do, nor frames
   :data:`QUIET_FRAME_DB` quieter still (the edges of a break). The
   spectrum is the mean of the frames kept.
3. **Correction.** Per band, the reference's level minus the mix's, in dB;
   their overall level difference (the mean over the mid bands from 60 Hz
   to 14 kHz) is taken out, as the loudness stage sets the level anyway.
   The curve is smoothed over a third of an octave, limited to
   ``max_gain_db`` either way, and scaled by ``amount``.
4. **EQ.** :class:`MatchEq` turns the mid and side curves into linear-phase
   FIRs (:func:`scipy.signal.firwin2`, the frequency-sampling method, Hann
   window) of about 0.34 s (:func:`fir_taps`), and applies them to mid and
   side, which go back to left and right. The FIRs delay the signal by half
   their length, which the renderer compensates.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from typing import ClassVar

import numpy as np

from .convolution import Convolution
from .effect import Effect, State
from .errors import ParameterError
from .validate import check_number

FRAME_S = 0.17
"""Analysis frame length in seconds, rounded up to a power of two of frames: 8192 at 48 kHz, about 6 Hz per bin."""
BANDS_PER_OCTAVE = 12
LOWEST_BAND_HZ = 20.0
HIGHEST_BAND_HZ = 20000.0
SMOOTHING_OCTAVES = 1.0 / 3.0
PASSAGE_S = 3.0
"""The length of the passage around a frame whose level decides whether the frame is analysed (EBU R 128's short-term window)."""
LOUD_PASSAGE_DB = 10.0
"""Frames whose passage is this far below the 95th percentile of passage levels, or further, are not in loud passages."""
QUIET_FRAME_DB = 20.0
"""A frame this much further below the loud level than its passage may be is left out even in a loud passage (the edge of a break)."""
SILENCE_DB = -70.0
"""Frames quieter than this (their mean square over both channels, dBFS) are never analysed."""
LEVEL_BAND_HZ = (60.0, 14000.0)
"""The bands whose mean mid difference is taken as the overall level difference."""
FIR_S = 0.34
"""The correction FIRs' length in seconds: 16385 taps at 48 kHz, fine enough for a third of an octave at 60 Hz."""
MAX_CORRECTION_DB = 24.0
FRAMES_PER_BATCH = 64
"""Analysis frames transformed at once: about 16 MB of work arrays at 48 kHz."""


def frame_frames(sample_rate: float) -> int:
    """Frames per analysis frame at ``sample_rate``: :data:`FRAME_S` rounded up to a power of two."""
    return 1 << math.ceil(math.log2(FRAME_S * sample_rate))


def hop_frames(sample_rate: float) -> int:
    """Frames between analysis frames: half a frame."""
    return frame_frames(sample_rate) // 2


def band_centres_hz(sample_rate: float) -> np.ndarray:
    """The bands' centre frequencies in Hz: every 1/12 octave from 20 Hz to 20 kHz or 0.45 of the rate, whichever is lower."""
    top = min(HIGHEST_BAND_HZ, 0.45 * sample_rate)
    count = math.floor(BANDS_PER_OCTAVE * math.log2(top / LOWEST_BAND_HZ)) + 1
    return LOWEST_BAND_HZ * 2.0 ** (np.arange(count) / BANDS_PER_OCTAVE)


@functools.lru_cache(maxsize=8)
def band_weights(sample_rate: float) -> np.ndarray:
    """The sparse matrix (bands, bins) that sums a frame's power spectrum (``rfft`` bins) into the bands of :func:`band_centres_hz`, each row summing to 1.

    Each band's sum runs over its own few bins in a fixed order, so a frame's
    band powers are the same however many frames are summed at once.
    """
    import scipy.sparse  # a tenth of a second to import; only reference matching needs it

    frames = frame_frames(sample_rate)
    bins_hz = np.fft.rfftfreq(frames, 1.0 / sample_rate)
    centres = band_centres_hz(sample_rate)
    log_bins = np.log2(np.maximum(bins_hz, 1e-9))
    log_centres = np.log2(centres)
    step = 1.0 / BANDS_PER_OCTAVE
    weights = np.clip(1.0 - np.abs(log_bins[None, :] - log_centres[:, None]) / step, 0.0, None)
    spacing = bins_hz[1]
    for row, centre in enumerate(centres):
        if weights[row].sum() == 0.0:
            position = centre / spacing
            low = int(position)
            weights[row, low], weights[row, low + 1] = 1.0 - (position - low), position - low
    weights /= weights.sum(axis=1, keepdims=True)
    return scipy.sparse.csr_array(weights)


@dataclasses.dataclass(frozen=True)
class FramePowers:
    """Per-frame band powers of a stretch of a signal: ``mid`` and ``side`` shaped (frames, bands), ``level_db`` (frames,)."""

    mid: np.ndarray
    side: np.ndarray
    level_db: np.ndarray

    @staticmethod
    def concatenate(parts: list[FramePowers]) -> FramePowers:
        """The frames of ``parts``, in order."""
        return FramePowers(*(np.concatenate([getattr(part, name) for part in parts]) for name in ("mid", "side", "level_db")))


def frame_powers(audio: np.ndarray, sample_rate: float, first_frame: int, frame_starts: range) -> FramePowers:
    """The band powers of the analysis frames starting at ``frame_starts`` (frames of the whole signal).

    ``audio`` is stereo ``(frames, 2)`` holding the signal from frame
    ``first_frame``; a frame that runs past its end is zero-padded (the
    signal ends there). Frames are transformed :data:`FRAMES_PER_BATCH` at
    a time; each frame's values depend on its own samples only.
    """
    size = frame_frames(sample_rate)
    window = np.hanning(size)
    weights = band_weights(sample_rate)
    norm = 1.0 / np.sum(window**2) / size
    starts = np.asarray(frame_starts, dtype=np.int64) - first_frame
    bands = weights.shape[0]
    if starts.size == 0:
        return FramePowers(np.zeros((0, bands)), np.zeros((0, bands)), np.zeros(0))
    short = int(starts[-1]) + size - audio.shape[0]
    if short > 0:
        audio = np.concatenate([audio, np.zeros((short, audio.shape[1]))])
    frames = np.lib.stride_tricks.sliding_window_view(audio, size, axis=0)
    half_window = 0.5 * window
    mids, sides, levels = [], [], []
    for batch in range(0, starts.size, FRAMES_PER_BATCH):
        pieces = frames[starts[batch : batch + FRAMES_PER_BATCH]]
        mid_side = np.stack([(pieces[:, 0] + pieces[:, 1]) * half_window, (pieces[:, 0] - pieces[:, 1]) * half_window], axis=1)
        power = np.abs(np.fft.rfft(mid_side, axis=2)) ** 2
        # Parseval: a frame's windowed sum of squares, from its spectrum (L² + R² = 2 (M² + S²)).
        energy = (power[:, :, 0] + 2.0 * power[:, :, 1:-1].sum(axis=2) + power[:, :, -1]).sum(axis=1) / size
        mids.append((weights @ power[:, 0, :].T).T * norm)
        sides.append((weights @ power[:, 1, :].T).T * norm)
        levels.append(10.0 * np.log10(np.maximum(energy / np.sum(window**2), 1e-30)))
    return FramePowers(np.concatenate(mids), np.concatenate(sides), np.concatenate(levels))


def analysis_frame_starts(first: int, stop: int, sample_rate: float) -> range:
    """The analysis frames whose start lies in ``[first, stop)``, on the grid from frame 0."""
    hop = hop_frames(sample_rate)
    return range(-(-first // hop) * hop, stop, hop)


def analyse_blocks(blocks: Iterable[np.ndarray], sample_rate: float) -> FramePowers:
    """The band powers of every analysis frame of a stereo signal given as consecutive blocks of any sizes."""
    size = frame_frames(sample_rate)
    pending = np.zeros((0, 2))
    first = 0
    parts = []
    for block in blocks:
        pending = np.vstack([pending, block])
        starts = analysis_frame_starts(first, first + pending.shape[0] - size + 1, sample_rate)
        if len(starts):
            parts.append(frame_powers(pending, sample_rate, first, starts))
            consumed = starts[-1] + hop_frames(sample_rate) - first
            pending, first = pending[consumed:], first + consumed
    end = first + pending.shape[0]
    parts.append(frame_powers(pending, sample_rate, first, analysis_frame_starts(first, end, sample_rate)))
    return FramePowers.concatenate(parts)


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """A long-term spectrum over loud passages: mid and side band levels in dB, and how many frames it averages."""

    centres_hz: np.ndarray
    mid_db: np.ndarray
    side_db: np.ndarray
    frames: int


def long_term_spectrum(powers: FramePowers, sample_rate: float) -> Spectrum | None:
    """The mean band levels of the loud passages of ``powers``; None when no frame is louder than :data:`SILENCE_DB`."""
    passage_db = _passage_levels_db(powers.level_db, sample_rate)
    audible = passage_db > SILENCE_DB
    if not audible.any():
        return None
    loud_db = np.percentile(passage_db[audible], 95.0)
    kept = audible & (passage_db >= loud_db - LOUD_PASSAGE_DB) & (powers.level_db >= loud_db - LOUD_PASSAGE_DB - QUIET_FRAME_DB)
    tiny = 1e-30
    mid = 10.0 * np.log10(np.mean(powers.mid[kept], axis=0) + tiny)
    side = 10.0 * np.log10(np.mean(powers.side[kept], axis=0) + tiny)
    return Spectrum(band_centres_hz(sample_rate), mid, side, int(kept.sum()))


def _passage_levels_db(level_db: np.ndarray, sample_rate: float) -> np.ndarray:
    """Each frame's passage level: the mean power of the frames within :data:`PASSAGE_S` around it, in dB.

    Gating frames by their passage rather than by themselves keeps a song's
    quiet sections out without sorting the beats of a loud one from the
    gaps between them, which would weigh the mix and the reference by their
    dynamics rather than their balance.
    """
    half = max(1, round(PASSAGE_S / 2 * sample_rate / hop_frames(sample_rate)))
    power = 10.0 ** (level_db / 10.0)
    window = np.ones(2 * half + 1)
    frames = power.size
    total = np.convolve(power, window)[half : half + frames]
    counts = np.convolve(np.ones(frames), window)[half : half + frames]
    return 10.0 * np.log10(np.maximum(total / counts, 1e-30))


@dataclasses.dataclass(frozen=True)
class Correction:
    """A matching EQ's curve: dB per band centre for mid and side."""

    centres_hz: np.ndarray
    mid_db: np.ndarray
    side_db: np.ndarray

    def to_dict(self) -> dict:
        """JSON-ready: frequencies in Hz and gains in dB, rounded to 0.01."""
        return {
            "frequencies_hz": [round(float(value), 2) for value in self.centres_hz],
            "mid_db": [round(float(value), 2) for value in self.mid_db],
            "side_db": [round(float(value), 2) for value in self.side_db],
        }


def correction(reference: Spectrum, mix: Spectrum, amount: float, max_gain_db: float) -> Correction:
    """The curve that takes ``mix``'s tonal balance towards ``reference``'s (step 3 of the module's method)."""
    check_number("amount", amount, minimum=0.0, maximum=1.0)
    check_number("max_gain_db", max_gain_db, minimum=0.0, maximum=MAX_CORRECTION_DB)
    if not np.array_equal(reference.centres_hz, mix.centres_hz):
        raise ParameterError("reference: analysed on other bands than the mix (another sample rate)")
    centres = mix.centres_hz
    low, high = LEVEL_BAND_HZ
    level_bands = (centres >= low) & (centres <= high)
    offset_db = float(np.mean(reference.mid_db[level_bands] - mix.mid_db[level_bands]))
    curves = []
    for ref_db, mix_db in ((reference.mid_db, mix.mid_db), (reference.side_db, mix.side_db)):
        difference = _smooth(ref_db - mix_db - offset_db)
        curves.append(amount * np.clip(difference, -max_gain_db, max_gain_db))
    return Correction(centres, curves[0], curves[1])


def loudness_change_db(curve: Correction, mix: Spectrum, sample_rate: float) -> float:
    """How much louder (LU, BS.1770 K-weighted) the correction makes the loud passages of ``mix``: its bands' K-weighted power before and after.

    An estimate from the long-term spectrum (the loudness stage's gating and
    the FIRs' exact response aside), good to a few tenths of an LU; the
    loudness stage starts from it and measures the rest.
    """
    import scipy.signal

    from .kweighting import sos

    _, response = scipy.signal.sosfreqz(sos(sample_rate), worN=curve.centres_hz, fs=sample_rate)
    weight = np.abs(response) ** 2 * curve.centres_hz  # band levels are power densities; a band's width grows with its frequency
    before = 10.0 ** (mix.mid_db / 10.0) + 10.0 ** (mix.side_db / 10.0)
    after = 10.0 ** ((mix.mid_db + curve.mid_db) / 10.0) + 10.0 ** ((mix.side_db + curve.side_db) / 10.0)
    return float(10.0 * np.log10(np.sum(weight * after) / np.sum(weight * before)))


def _smooth(curve_db: np.ndarray) -> np.ndarray:
    """``curve_db`` (on the band grid) averaged over :data:`SMOOTHING_OCTAVES` with a triangular window; the ends use the bands there are."""
    half = round(SMOOTHING_OCTAVES * BANDS_PER_OCTAVE)
    kernel = 1.0 - np.abs(np.arange(-half, half + 1)) / (half + 1)
    weighted = np.convolve(curve_db, kernel, mode="same")
    counts = np.convolve(np.ones_like(curve_db), kernel, mode="same")
    return weighted / counts


def fir_taps(sample_rate: float) -> int:
    """The correction FIRs' length at ``sample_rate``: :data:`FIR_S`, odd (a linear-phase filter of type I)."""
    return 2 * round(FIR_S * sample_rate / 2) + 1


def correction_fir(curve_db: np.ndarray, centres_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """A linear-phase FIR of :func:`fir_taps` taps whose response follows ``curve_db`` at ``centres_hz`` (held flat beyond them)."""
    import scipy.signal

    nyquist = sample_rate / 2.0
    grid_hz = np.linspace(0.0, nyquist, 4097)
    gain_db = np.interp(np.log2(np.maximum(grid_hz, 1e-9)), np.log2(centres_hz), curve_db)
    return scipy.signal.firwin2(fir_taps(sample_rate), grid_hz, 10.0 ** (gain_db / 20.0), window="hann", fs=sample_rate)


@dataclasses.dataclass(frozen=True, eq=False)
class MatchEq(Effect):
    """The matching EQ: a linear-phase FIR on mid and another on side, from a :class:`Correction`.

    Latency is half the FIRs' length; a cold start matches a warm one after
    their whole length.
    """

    correction: Correction | None = None

    type_name: ClassVar[str] = "match_eq"

    def __post_init__(self) -> None:
        super().__post_init__()
        firs = [correction_fir(curve, self.correction.centres_hz, self.sample_rate) for curve in (self.correction.mid_db, self.correction.side_db)]
        object.__setattr__(self, "_convolution", Convolution.from_array(self.sample_rate, np.stack(firs, axis=1)))

    def _validate(self) -> None:
        if self.correction is None:
            raise ParameterError("correction: required")

    @property
    def latency_samples(self) -> int:
        return fir_taps(self.sample_rate) // 2

    @property
    def settle_s(self) -> float:
        return (fir_taps(self.sample_rate) - 1) / self.sample_rate

    def _init_state(self, channels: int) -> State:
        if channels != 2:
            raise ParameterError(f"channels: the matching EQ works on stereo (mid and side), got {channels}")
        return self._convolution.init_state(2)

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        mid_side = np.stack([block[:, 0] + block[:, 1], block[:, 0] - block[:, 1]], axis=1) * 0.5
        matched, new_state = self._convolution.process(mid_side, state)
        return np.stack([matched[:, 0] + matched[:, 1], matched[:, 0] - matched[:, 1]], axis=1), new_state
