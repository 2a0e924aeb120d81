"""De-esser: turns sibilance down where the band above a frequency grows too loud.

The detector hears the input above ``freq_hz`` (a 24 dB/octave
Linkwitz-Riley highpass, :mod:`dsp.crossover`), as the sample peak of the
loudest channel (one gain for all channels). Where that level rises above
``threshold_db`` the gain falls by the excess, as a compressor of infinite
ratio would, but never by more than ``-range_db``. The gain reduction moves
with the compressor's ballistics (:mod:`dsp.compressor`): it rises with the
one-pole ``attack_s`` and falls with ``release_s``.

``mode`` chooses what is turned down:

- ``split``: only the band above ``freq_hz``. The band below (the matching
  Linkwitz-Riley lowpass) passes as it is and the two are added back; with
  no reduction their sum has the input's magnitude at every frequency.
- ``wide``: the whole signal, which keeps its tone while the esses duck.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from .automation import Lanes
from .biquad import sosfilt
from .compressor import (
    _TILE_FRAMES,
    _apply_gain,
    _detector_power,
    _gain_exponent,
    gain_settings,
)
from .crossover import linkwitz_riley
from .crossover import settle_s as filter_settle_s
from .effect import Effect, State
from .envelope import SETTLE_TIME_CONSTANTS
from .eq import BUTTERWORTH_Q, biquad, ramped_cascade
from .validate import check_choice, check_frequency, check_number

MODES = ("split", "wide")
_FULLY_WET = np.ones(1)
MAX_RANGE_DB = 60.0


@dataclasses.dataclass(frozen=True)
class DeEsser(Effect):
    """Sibilance control from the level above ``freq_hz``, on that band alone or on the whole signal.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    threshold_db : float
        Level, in dBFS (sample peak), of the band above ``freq_hz`` where reduction starts.
    freq_hz : float
        Where the sibilance band starts, in Hz, below Nyquist: the detector's
        (and in ``split`` mode the reduced band's) 24 dB/octave crossover.
    range_db : float
        The most gain reduction, in dB, -60 to 0 (0 turns nothing down).
    mode : str
        ``split`` turns down only the band above ``freq_hz``; ``wide`` the whole signal.
    attack_s : float
        Time constant, in seconds, of a rise in gain reduction, >= 0.
    release_s : float
        Time constant, in seconds, of a fall in gain reduction, >= 0.
    """

    threshold_db: float
    freq_hz: float = 6000.0
    range_db: float = -12.0
    mode: str = "split"
    attack_s: float = 0.001
    release_s: float = 0.05

    type_name: ClassVar[str] = "de_esser"
    automatable: ClassVar[tuple[str, ...]] = ("threshold_db", "freq_hz", "range_db", "attack_s", "release_s")

    def _validate(self) -> None:
        check_number("threshold_db", self.threshold_db)
        check_frequency("freq_hz", self.freq_hz, self.sample_rate)
        check_number("range_db", self.range_db, minimum=-MAX_RANGE_DB, maximum=0.0)
        check_choice("mode", self.mode, MODES)
        check_number("attack_s", self.attack_s, minimum=0.0)
        check_number("release_s", self.release_s, minimum=0.0)

    @property
    def highpass(self) -> np.ndarray:
        """The sibilance band's crossover highpass, second-order sections (2, 6)."""
        return linkwitz_riley("highpass", self.freq_hz, self.sample_rate)

    @property
    def lowpass(self) -> np.ndarray:
        """The matching lowpass of ``split`` mode, second-order sections (2, 6)."""
        return linkwitz_riley("lowpass", self.freq_hz, self.sample_rate)

    @property
    def settle_s(self) -> float:
        """Seconds of pre-roll for a cold start to match a warm one below -120 dBFS.

        The crossover filters settle first, then the ballistics, which forget
        a start as the compressor's do (see :attr:`dsp.compressor.Compressor.settle_s`).
        """
        ballistics_s = (SETTLE_TIME_CONSTANTS + math.log(10.0)) * (self.attack_s + self.release_s)
        return filter_settle_s(self.highpass, self.sample_rate) + ballistics_s

    @property
    def tail_s(self) -> float:
        """The crossover filters ring out as they settle."""
        return filter_settle_s(self.highpass, self.sample_rate)

    def _init_state(self, channels: int) -> State:
        return {
            "highpass_zi": np.zeros((2, 2, channels)),
            "lowpass_zi": np.zeros((2, 2, channels)),
            "peak_reduction_db": np.zeros(1),
            "reduction_db": np.zeros(1),
        }

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._run(block, state, None)

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        return self._run(block, state, lanes)

    def _crossover(self, kind: str, block: np.ndarray, zi: np.ndarray, lanes: Lanes | None) -> tuple[np.ndarray, np.ndarray]:
        """The block through the crossover filter ``kind``; with ``freq_hz`` automated, its coefficients ramp between control points."""
        if lanes is None or "freq_hz" not in lanes.envelopes:
            return sosfilt(self.highpass if kind == "highpass" else self.lowpass, block, zi)
        points, phase = lanes.control_points()
        section = biquad(kind, lanes.at("freq_hz", points), self.sample_rate, q=BUTTERWORTH_Q)
        grid_sos = np.ascontiguousarray(np.stack([section, section], axis=1))
        zf = zi.copy()
        return ramped_cascade(block, zf, grid_sos, phase), zf

    def _run(self, block: np.ndarray, state: State, lanes: Lanes | None) -> tuple[np.ndarray, State]:
        """The block de-essed, its parameters following ``lanes`` (None: the static ones)."""

        def value(name: str):
            return lanes.per_frame(name) if lanes is not None and name in lanes.envelopes else float(getattr(self, name))

        high, highpass_zi = self._crossover("highpass", block, state["highpass_zi"], lanes)
        split = self.mode == "split"
        if split:
            low, lowpass_zi = self._crossover("lowpass", block, state["lowpass_zi"], lanes)
        else:
            lowpass_zi = state["lowpass_zi"].copy()
        thresholds_db, attacks_s, releases_s = value("threshold_db"), value("attack_s"), value("release_s")
        limits_db = -np.atleast_1d(value("range_db"))
        peak_db, reduction_db = state["peak_reduction_db"].copy(), state["reduction_db"].copy()
        unused_mean_square = np.zeros(block.shape[1])
        out = np.empty_like(block)
        for start in range(0, block.shape[0], _TILE_FRAMES):
            tile = slice(start, start + _TILE_FRAMES)

            def part(values):
                return values[tile] if np.ndim(values) else values

            power = _detector_power(high[tile], unused_mean_square, False, 0.0, np.empty((high[tile].shape[0], 1)))
            with np.errstate(divide="ignore"):
                log_power = np.log(power, out=power)
            settings = gain_settings(self.sample_rate, part(thresholds_db), 0.0, np.inf, part(attacks_s), part(releases_s), 0.0)
            exponent = _gain_exponent(log_power, peak_db, reduction_db, settings, limits_db if limits_db.shape[0] == 1 else limits_db[tile], np.empty_like(log_power))
            gain = np.exp(exponent, out=exponent)
            if split:
                _apply_gain(high[tile], gain, _FULLY_WET, out[tile])
                out[tile] += low[tile]
            else:
                _apply_gain(block[tile], gain, _FULLY_WET, out[tile])
        new_state = {"highpass_zi": highpass_zi, "lowpass_zi": lowpass_zi, "peak_reduction_db": peak_db, "reduction_db": reduction_db}
        return out, new_state
