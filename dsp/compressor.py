"""Feed-forward compressor with a log-domain gain computer and soft knee.

The design follows Giannoulis, Massberg & Reiss, "Digital Dynamic Range
Compressor Design - A Tutorial and Analysis", JAES 60(6), 2012: feed-forward,
with the level detector in the log domain after the gain computer.

1. **Detector level** ``x_G`` in dB, from the side-chain signal (the input, or
   the input through a 2nd-order Butterworth high-pass at ``sidechain_hpf_hz``,
   12 dB/octave; the audio path is never filtered). Built with ``key_input``,
   the detector hears a sidechain key passed to ``process`` instead of the
   input (a mono key on both sides), so another signal can duck this one:

   - ``peak``: the instantaneous sample level, ``20 log10 |x|``;
   - ``rms``: the mean square over a one-pole window of
     :data:`RMS_TIME_CONSTANT_S` (20 ms), ``10 log10 ms``. A steady sine reads
     its RMS level (3.01 dB below its peak), with a ripple of 0.02 dB at 1 kHz.

   With ``stereo_link`` the level is the *maximum* over the channels (of ``|x|``
   or of the mean squares) and one gain drives every channel; otherwise each
   channel has its own detector and gain.
2. **Static curve** with threshold ``T``, ratio ``R`` and knee width ``W``
   (the paper's soft-knee gain computer): the output level is ``x_G`` below ``T - W/2``,
   ``T + (x_G - T) / R`` above ``T + W/2``, and
   ``x_G + (1/R - 1) (x_G - T + W/2)^2 / (2 W)`` inside the knee. The gain
   reduction is ``x_L = x_G - y_G`` dB.
3. **Ballistics** on the gain reduction, in dB: a peak stage that follows rises
   at once and releases towards ``x_L`` with ``release_s``, then an attack stage
   that rises with ``attack_s`` and follows falls at once. This is the paper's
   smooth decoupled peak detector with the attack stage made
   branching so that neither time constant leaks into the other: a level step
   moves the gain reduction along a single one-pole of ``attack_s`` (upward)
   or ``release_s`` (downward), each the time to cover ``1 - 1/e`` of the step
   (see :mod:`dsp.envelope`). The peak stage holds a steady tone's peak gain
   reduction between waveform peaks, so the static curve holds for sines
   (the droop between peaks is below 0.03 dB for a 1 kHz tone and 100 ms release).
4. **Gain** ``g = 10^((makeup_db - y_L) / 20)`` applied to every sample, and
   the parallel blend ``out = x * ((1 - mix) + mix * g)``: ``mix = 0`` returns
   the input exactly.

The logarithm and exponential run as numpy ufuncs, in place, over tiles of
frames; the detector, the recursions (with their states in registers) and the
gain's application run in numba. The detector's power, its logarithm and the
gain run in float32, whose ``log`` and ``exp`` numpy vectorises on every x86
machine (float64's only with AVX-512): about 3 ns a value against 15 here. A
float32 gain is within 1e-7 of the float64 one (below -140 dB of the signal),
the recursions and their states stay float64, and the audio path is float64.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import numba
import numpy as np

from .automation import Lanes
from .biquad import sosfilt
from .effect import Effect, State
from .envelope import SETTLE_TIME_CONSTANTS, one_pole_coefficient, one_pole_coefficients
from .eq import BUTTERWORTH_Q, PASS_THROUGH, biquad, ramped_cascade
from .errors import ParameterError
from .validate import check_choice, check_frequency, check_number

RMS_TIME_CONSTANT_S = 0.02
"""Time constant, in seconds, of the one-pole mean square of the ``rms`` detector."""

SIDECHAIN_HPF_ORDER = 2

DETECTORS = ("peak", "rms")

DB_PER_NEPER = 20.0 / math.log(10.0)

_HALF_DB_PER_NEPER = 0.5 * DB_PER_NEPER
"""dB per unit of natural logarithm of a power."""

_NEPER_PER_DB = 1.0 / DB_PER_NEPER
"""A multiply by this is cheaper than a divide by :data:`DB_PER_NEPER`."""

_UNLIMITED = np.array([np.inf])
"""No bound on the gain reduction (see :func:`_gain_exponent`)."""

_TILE_FRAMES = 32768
"""Frames per pass through the pipeline, which bounds the temporaries' memory."""


@functools.lru_cache(maxsize=64)
def _sidechain_sos(corner_hz: float, sample_rate: float) -> np.ndarray:
    """The side-chain high-pass: 2nd-order Butterworth, as second-order sections."""
    import scipy.signal  # its import costs half a second; only a compressor with a side-chain filter needs it

    return scipy.signal.butter(
        SIDECHAIN_HPF_ORDER, corner_hz, btype="highpass", output="sos", fs=sample_rate
    )


@numba.njit(cache=True, nogil=True)
def _detector_power(
    key: np.ndarray,
    mean_square: np.ndarray,
    rms: bool,
    rms_coefficient: float,
    power: np.ndarray,
) -> np.ndarray:
    """Detector power (squared level) per frame and control channel, into ``power`` (frames, controls).

    With one control channel it is the largest over the channels. The ``rms``
    detector's one-pole mean squares are updated in ``mean_square`` in place.
    """
    frames, channels = key.shape
    controls = power.shape[1]
    if not rms and controls == 1 and channels <= 2:
        # The common case, without the loop over channels that keeps the loop over frames from vectorising.
        if channels == 1:
            for n in range(frames):
                power[n, 0] = key[n, 0] * key[n, 0]
        else:
            for n in range(frames):
                power[n, 0] = max(key[n, 0] * key[n, 0], key[n, 1] * key[n, 1])
        return power
    for n in range(frames):
        loudest = 0.0
        for c in range(channels):
            square = key[n, c] * key[n, c]
            if rms:
                mean_square[c] = square + rms_coefficient * (mean_square[c] - square)
                square = mean_square[c]
            if controls > 1:
                power[n, c] = square
            else:
                loudest = max(loudest, square)
        if controls == 1:
            power[n, 0] = loudest
    return power


@numba.njit(inline="always")
def _static_curve_db(level_db: float, threshold_db: float, knee_db: float, slope: float, knee_scale: float) -> float:
    """Gain reduction in dB that the soft-knee curve asks for at detector level ``level_db``.

    ``knee_scale`` is ``slope / (2 knee_db)`` (0 for a hard knee). Written as
    selects rather than branches: a level that hovers about the threshold
    would mispredict them.
    """
    over_db = level_db - threshold_db
    into_knee_db = over_db + 0.5 * knee_db
    reduction_db = slope * over_db if 2.0 * over_db >= knee_db else knee_scale * into_knee_db * into_knee_db
    return reduction_db if into_knee_db > 0.0 else 0.0


@numba.njit(inline="always")
def _knee_scale(knee_db: float, slope: float) -> float:
    """``slope / (2 knee_db)``, the soft knee's quadratic coefficient; 0 for a hard knee."""
    return slope / (2.0 * knee_db) if knee_db > 0.0 else 0.0


THRESHOLD, KNEE, SLOPE, ATTACK, RELEASE, MAKEUP = range(6)
"""Columns of a gain computer's settings: threshold dB, knee dB, slope ``1 - 1/ratio``, attack and release
one-pole coefficients, makeup dB."""


@numba.njit(inline="always")
def _target_reductions_db(log_power, control, settings, max_reductions_db, target_db):
    """The static curve over one control channel, its reduction never above ``max_reductions_db``, into ``target_db``.

    No recursion, so this loop vectorises; the loop for settings that are
    constant over the block keeps them out of it.
    """
    frames = log_power.shape[0]
    limit_step = 1 if max_reductions_db.shape[0] > 1 else 0
    if settings.shape[0] > 1:
        for n in range(frames):
            threshold_db, knee_db, slope = settings[n, THRESHOLD], settings[n, KNEE], settings[n, SLOPE]
            curve_db = _static_curve_db(log_power[n, control] * _HALF_DB_PER_NEPER, threshold_db, knee_db, slope, _knee_scale(knee_db, slope))
            target_db[n] = min(curve_db, max_reductions_db[n * limit_step])
        return
    threshold_db, knee_db, slope = settings[0, THRESHOLD], settings[0, KNEE], settings[0, SLOPE]
    knee_scale = _knee_scale(knee_db, slope)
    if limit_step:
        for n in range(frames):
            target_db[n] = min(_static_curve_db(log_power[n, control] * _HALF_DB_PER_NEPER, threshold_db, knee_db, slope, knee_scale), max_reductions_db[n])
        return
    limit_db = max_reductions_db[0]
    for n in range(frames):
        target_db[n] = min(_static_curve_db(log_power[n, control] * _HALF_DB_PER_NEPER, threshold_db, knee_db, slope, knee_scale), limit_db)


@numba.njit(cache=True, nogil=True)
def _gain_exponent(
    log_power: np.ndarray,
    peak_db: np.ndarray,
    reduction_db: np.ndarray,
    settings: np.ndarray,
    max_reductions_db: np.ndarray,
    exponent: np.ndarray,
) -> np.ndarray:
    """Natural logarithm of the gain, shape of ``log_power`` (frames, controls).

    ``log_power`` is the natural logarithm of the detector power. Static curve
    (its reduction never above ``max_reductions_db``, one value or one per frame), then the peak (instant
    rise, release) and attack (instant fall) stages, whose states ``peak_db``
    and ``reduction_db`` are updated in place; the result is
    ``(makeup_db - reduction) / DB_PER_NEPER``. ``settings`` holds the columns
    :data:`THRESHOLD` to :data:`MAKEUP` in one row for all frames or a row per frame.
    """
    frames, controls = log_power.shape
    per_frame = settings.shape[0] > 1
    target_db = np.empty(frames)
    for k in range(controls):
        _target_reductions_db(log_power, k, settings, max_reductions_db, target_db)
        peak = peak_db[k]
        reduction = reduction_db[k]
        attack, release, makeup_db = settings[0, ATTACK], settings[0, RELEASE], settings[0, MAKEUP]
        for n in range(frames):
            if per_frame:
                attack, release, makeup_db = settings[n, ATTACK], settings[n, RELEASE], settings[n, MAKEUP]
            # A one-pole with an instant rise (fall) is the max (min) of its target and its smoothed step;
            # this form keeps the compare off the recursion's critical path.
            peak = max(target_db[n], release * peak + (1.0 - release) * target_db[n])
            reduction = min(peak, attack * reduction + (1.0 - attack) * peak)
            exponent[n, k] = (makeup_db - reduction) * _NEPER_PER_DB
        peak_db[k] = peak
        reduction_db[k] = reduction
    return exponent


@numba.njit(cache=True, nogil=True)
def _apply_gain(block: np.ndarray, gain: np.ndarray, mixes: np.ndarray, out: np.ndarray) -> None:
    """``out = block * ((1 - mix) + mix * gain)``, one gain column per channel or one for all; ``mixes`` once or per frame."""
    frames, channels = block.shape
    if mixes.shape[0] == 1 and gain.shape[1] == 1 and channels <= 2:
        # The common case, without the loop over channels that keeps the loop over frames from vectorising.
        mix = mixes[0]
        dry = 1.0 - mix
        if channels == 1:
            for n in range(frames):
                out[n, 0] = block[n, 0] * (dry + mix * gain[n, 0])
        else:
            for n in range(frames):
                factor = dry + mix * gain[n, 0]
                out[n, 0] = block[n, 0] * factor
                out[n, 1] = block[n, 1] * factor
        return
    step = 1 if mixes.shape[0] > 1 else 0
    if gain.shape[1] == 1:
        for n in range(frames):
            mix = mixes[n * step]
            factor = (1.0 - mix) + mix * gain[n, 0]
            for c in range(channels):
                out[n, c] = block[n, c] * factor
        return
    for n in range(frames):
        mix = mixes[n * step]
        for c in range(channels):
            out[n, c] = block[n, c] * ((1.0 - mix) + mix * gain[n, c])


def gain_settings(sample_rate: float, threshold_db, knee_db, ratio, attack_s, release_s, makeup_db) -> np.ndarray:
    """A gain computer's settings (see :func:`_gain_exponent`): one row from numbers, a row per frame from arrays."""
    if all(np.ndim(value) == 0 for value in (threshold_db, knee_db, ratio, attack_s, release_s, makeup_db)):
        attack, release = one_pole_coefficient(attack_s, sample_rate), one_pole_coefficient(release_s, sample_rate)
        return np.array([[threshold_db, knee_db, 1.0 - 1.0 / ratio, attack, release, makeup_db]], dtype=np.float64)
    frames = next(np.shape(value)[0] for value in (threshold_db, knee_db, ratio, attack_s, release_s, makeup_db) if np.ndim(value))
    settings = np.empty((frames, 6))
    settings[:, THRESHOLD], settings[:, KNEE], settings[:, MAKEUP] = threshold_db, knee_db, makeup_db
    settings[:, SLOPE] = 1.0 - 1.0 / np.asarray(ratio, dtype=np.float64)
    settings[:, ATTACK] = one_pole_coefficients(attack_s, sample_rate) if np.ndim(attack_s) else one_pole_coefficient(attack_s, sample_rate)
    settings[:, RELEASE] = one_pole_coefficients(release_s, sample_rate) if np.ndim(release_s) else one_pole_coefficient(release_s, sample_rate)
    return settings


@dataclasses.dataclass(frozen=True)
class Compressor(Effect):
    """Feed-forward compressor with soft knee, peak or RMS detection and parallel mix.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    threshold_db : float
        Detector level, in dBFS, where compression starts (centre of the knee).
    ratio : float
        Input dB per output dB above the threshold, >= 1 (1 leaves the signal unchanged).
    attack_s : float
        Attack time constant in seconds, >= 0: a rise in gain reduction covers
        ``1 - 1/e`` of its step in this time.
    release_s : float
        Release time constant in seconds, >= 0, defined likewise for a fall.
    knee_db : float
        Width of the soft knee in dB, >= 0 (0: hard knee).
    makeup_db : float
        Gain in dB applied to the compressed (wet) signal.
    detector : {"peak", "rms"}
        Sample-peak level or RMS over a 20 ms one-pole window.
    sidechain_hpf_hz : float or None
        Corner, in Hz, of a 2nd-order Butterworth high-pass on the detector
        path only; below Nyquist. None: no filter.
    stereo_link : bool
        One gain for all channels, from the loudest channel's detector level.
    mix : float
        Share of the compressed signal, 0 (dry) to 1 (fully compressed).
    key_input : bool
        The detector listens to a sidechain key (``process(..., key=)``)
        instead of the input; keyword only.
    """

    threshold_db: float
    ratio: float
    attack_s: float = 0.01
    release_s: float = 0.1
    knee_db: float = 0.0
    makeup_db: float = 0.0
    detector: str = "peak"
    sidechain_hpf_hz: float | None = None
    stereo_link: bool = True
    mix: float = 1.0
    key_input: bool = dataclasses.field(default=False, kw_only=True)

    type_name: ClassVar[str] = "compressor"
    automatable: ClassVar[tuple[str, ...]] = ("threshold_db", "ratio", "knee_db", "attack_s", "release_s", "makeup_db", "mix", "sidechain_hpf_hz")

    def _validate(self) -> None:
        check_number("threshold_db", self.threshold_db)
        check_number("ratio", self.ratio, minimum=1.0)
        check_number("attack_s", self.attack_s, minimum=0.0)
        check_number("release_s", self.release_s, minimum=0.0)
        check_number("knee_db", self.knee_db, minimum=0.0)
        check_number("makeup_db", self.makeup_db)
        check_choice("detector", self.detector, DETECTORS)
        if self.sidechain_hpf_hz is not None:
            check_frequency("sidechain_hpf_hz", self.sidechain_hpf_hz, self.sample_rate)
        if not isinstance(self.stereo_link, (bool, np.bool_)):
            raise ParameterError(
                f"stereo_link: must be true or false, got {self.stereo_link!r}"
            )
        check_number("mix", self.mix, minimum=0.0, maximum=1.0)

    @property
    def settle_s(self) -> float:
        """Seconds of pre-roll for a cold start to match a warm one below -120 dBFS.

        The detector is a cascade of contracting one-poles (side-chain filter,
        mean square, release, attack); a cascade forgets its start no slower
        than one pole whose time constant is their sum. The count of time
        constants is one decade above :data:`~dsp.envelope.SETTLE_TIME_CONSTANTS`
        because a difference in gain reduction of up to 87 dB must fall to
        1e-6 of the signal (1 dB of gain is 11.5 % of amplitude).
        """
        total_s = self.attack_s + self.release_s
        if self.detector == "rms":
            total_s += RMS_TIME_CONSTANT_S
        if self.sidechain_hpf_hz is not None:
            total_s += math.sqrt(2.0) / (2.0 * math.pi * self.sidechain_hpf_hz)
        return (SETTLE_TIME_CONSTANTS + math.log(10.0)) * total_s

    def _init_state(self, channels: int) -> State:
        controls = 1 if self.stereo_link else channels
        detected = 2 if self.key_input else channels
        state = {
            "mean_square": np.zeros(detected),
            "peak_reduction_db": np.zeros(controls),
            "reduction_db": np.zeros(controls),
        }
        if self.sidechain_hpf_hz is not None:
            sections = _sidechain_sos(self.sidechain_hpf_hz, self.sample_rate).shape[0]
            state["sidechain_zi"] = np.zeros((sections, 2, detected))
        return state

    def automation_problem(self, parameter: str) -> str | None:
        """Why the compressor cannot follow ``parameter``; ``sidechain_hpf_hz`` moves only a filter that is there."""
        if parameter == "sidechain_hpf_hz" and self.sidechain_hpf_hz is None:
            return "this compressor has no side-chain filter to move; give sidechain_hpf_hz a value to automate it"
        return super().automation_problem(parameter)

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._compress(block, state, None, block)

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        return self._compress(block, state, lanes, block)

    def _process_keyed(self, block: np.ndarray, state: State, key: np.ndarray, lanes: Lanes | None) -> tuple[np.ndarray, State]:
        return self._compress(block, state, lanes, key)

    def _filtered_key(self, key: np.ndarray, zi: np.ndarray, lanes: Lanes | None) -> tuple[np.ndarray, np.ndarray]:
        """The key through the side-chain high-pass; automated, its coefficients ramp between control points (see :func:`dsp.eq.ramped_cascade`)."""
        if lanes is None or "sidechain_hpf_hz" not in lanes.envelopes:
            return sosfilt(_sidechain_sos(self.sidechain_hpf_hz, self.sample_rate), key, zi)
        points, phase = lanes.control_points()
        sections = biquad("highpass", lanes.at("sidechain_hpf_hz", points), self.sample_rate, q=BUTTERWORTH_Q)
        grid_sos = np.ascontiguousarray(np.stack([sections, np.broadcast_to(PASS_THROUGH, sections.shape)], axis=1))
        cascade_zi = np.concatenate([zi, np.zeros_like(zi)])
        return ramped_cascade(key, cascade_zi, grid_sos, phase), cascade_zi[:1]

    def _settings(self, automated: dict[str, np.ndarray], tile: slice) -> tuple[np.ndarray, np.ndarray]:
        """The gain computer's settings and the mix over ``tile``: one row where nothing is automated, else a row per frame."""

        def value(name: str):
            return automated[name][tile] if name in automated else float(getattr(self, name))

        settings = gain_settings(
            self.sample_rate, value("threshold_db"), value("knee_db"), value("ratio"), value("attack_s"), value("release_s"), value("makeup_db")
        )
        return settings, np.atleast_1d(value("mix"))

    def _compress(self, block: np.ndarray, state: State, lanes: Lanes | None, key: np.ndarray) -> tuple[np.ndarray, State]:
        """The block compressed as the detector hears ``key``, its parameters following ``lanes`` (None: the static ones)."""
        new_state = {name: np.array(value, copy=True) for name, value in state.items()}
        automated = {} if lanes is None else {name: lanes.per_frame(name) for name in lanes.envelopes if name != "sidechain_hpf_hz"}
        if self.sidechain_hpf_hz is not None:
            key, new_state["sidechain_zi"] = self._filtered_key(key, state["sidechain_zi"], lanes)
        rms = self.detector == "rms"
        controls = new_state["reduction_db"].shape[0]
        rms_coefficient = one_pole_coefficient(RMS_TIME_CONSTANT_S, self.sample_rate)
        out = np.empty_like(block)
        power = np.empty((min(block.shape[0], _TILE_FRAMES), controls), dtype=np.float32)
        exponent = np.empty_like(power)
        static = None if automated else self._settings(automated, slice(None))
        for start in range(0, block.shape[0], _TILE_FRAMES):
            tile = slice(start, start + _TILE_FRAMES)
            frames = key[tile].shape[0]
            _detector_power(key[tile], new_state["mean_square"], rms, rms_coefficient, power[:frames])
            with np.errstate(divide="ignore"):
                log_power = np.log(power[:frames], out=power[:frames])
            settings, mixes = static or self._settings(automated, tile)
            gain_exponent = _gain_exponent(log_power, new_state["peak_reduction_db"], new_state["reduction_db"], settings, _UNLIMITED, exponent[:frames])
            gain = np.exp(gain_exponent, out=gain_exponent)
            _apply_gain(block[tile], gain, mixes, out[tile])
        return out, new_state
