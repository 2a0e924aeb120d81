"""Multiband compressor: Linkwitz-Riley bands, each with its own compressor, added back together.

``crossovers_hz`` (1 to 4 ascending frequencies) split the signal into 2 to
5 bands with 24 dB/octave Linkwitz-Riley filters (:mod:`dsp.crossover`), as
a tree: the first crossover splits the input into its lowpass (band 1) and
its highpass, the second splits that highpass, and so on. Each band below a
later crossover also passes through that crossover's allpass (the sum of
its lowpass and highpass), so every band carries the same phase shift and
the bands add up to the input with its magnitude unchanged at every
frequency: with every band bypassed the compressor only turns the phase.

Each band runs a :class:`~dsp.compressor.Compressor` (sample peak, channels
linked) unless it is bypassed. ``mix`` blends the compressed sum with the
uncompressed sum of the bands (the dry signal with the same phase, so the
blend does not comb-filter).
"""

from __future__ import annotations

import dataclasses
import re
from typing import ClassVar

import numpy as np

from .automation import Lanes
from .biquad import sosfilt
from .compressor import Compressor
from .crossover import allpass, linkwitz_riley
from .crossover import settle_s as filter_settle_s
from .effect import Effect, State
from .eq import BUTTERWORTH_Q, PASS_THROUGH, biquad, ramped_cascade
from .errors import ParameterError
from .validate import check_frequency, check_number

MAX_CROSSOVERS = 4


@dataclasses.dataclass(frozen=True)
class CompressorBand:
    """One band of a :class:`MultibandCompressor`: a compressor's settings, or bypass.

    Parameters
    ----------
    threshold_db : float
        Detector level, in dBFS, where this band's compression starts.
    ratio : float
        Input dB per output dB above the threshold, >= 1.
    attack_s : float
        Attack time constant in seconds, >= 0.
    release_s : float
        Release time constant in seconds, >= 0.
    knee_db : float
        Width of the soft knee in dB, >= 0.
    makeup_db : float
        Gain in dB applied to the compressed band.
    bypass : bool
        A bypassed band passes through uncompressed.
    """

    threshold_db: float
    ratio: float
    attack_s: float = 0.01
    release_s: float = 0.1
    knee_db: float = 0.0
    makeup_db: float = 0.0
    bypass: bool = False

    def compressor(self, sample_rate: float, name: str = "band") -> Compressor:
        """The band's compressor at ``sample_rate``; a rule broken is reported under ``name``."""
        if not isinstance(self.bypass, (bool, np.bool_)):
            raise ParameterError(f"{name}.bypass: must be true or false, got {self.bypass!r}")
        try:
            return Compressor(
                sample_rate,
                threshold_db=self.threshold_db,
                ratio=self.ratio,
                attack_s=self.attack_s,
                release_s=self.release_s,
                knee_db=self.knee_db,
                makeup_db=self.makeup_db,
            )
        except ParameterError as exc:
            raise ParameterError(f"{name}.{exc}") from None


@dataclasses.dataclass(frozen=True)
class MultibandCompressor(Effect):
    """A compressor per band between Linkwitz-Riley crossovers, 2 to 5 bands.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    crossovers_hz : tuple of float
        1 to 4 crossover frequencies in Hz, ascending, below Nyquist (24 dB/octave Linkwitz-Riley).
    bands : tuple of CompressorBand
        One per band, lowest first: one more than there are crossovers.
    mix : float
        Share of the compressed signal, 0 (dry) to 1 (fully compressed).
    """

    crossovers_hz: tuple[float, ...] = ()
    bands: tuple[CompressorBand, ...] = ()
    mix: float = 1.0

    type_name: ClassVar[str] = "multiband_compressor"
    automatable: ClassVar[tuple[str, ...]] = (
        "bands.*.threshold_db",
        "bands.*.ratio",
        "bands.*.knee_db",
        "bands.*.attack_s",
        "bands.*.release_s",
        "bands.*.makeup_db",
        "crossovers_hz.*",
        "mix",
    )

    def _validate(self) -> None:
        object.__setattr__(self, "crossovers_hz", tuple(self.crossovers_hz))
        object.__setattr__(self, "bands", tuple(self.bands))
        if not 1 <= len(self.crossovers_hz) <= MAX_CROSSOVERS:
            raise ParameterError(f"crossovers_hz: must hold 1 to {MAX_CROSSOVERS} frequencies, got {len(self.crossovers_hz)}")
        for index, freq_hz in enumerate(self.crossovers_hz):
            check_frequency(f"crossovers_hz[{index}]", freq_hz, self.sample_rate)
            if index and freq_hz <= self.crossovers_hz[index - 1]:
                raise ParameterError(f"crossovers_hz[{index}]: must be above crossovers_hz[{index - 1}] ({self.crossovers_hz[index - 1]:g} Hz), got {freq_hz:g}")
        if len(self.bands) != len(self.crossovers_hz) + 1:
            raise ParameterError(f"bands: {len(self.crossovers_hz)} crossover(s) make {len(self.crossovers_hz) + 1} bands, got {len(self.bands)} band(s)")
        for index, band in enumerate(self.bands):
            if not isinstance(band, CompressorBand):
                raise ParameterError(f"bands[{index}]: must be a CompressorBand, got {type(band).__name__}")
            band.compressor(self.sample_rate, f"bands[{index}]")
        check_number("mix", self.mix, minimum=0.0, maximum=1.0)

    def automation_problem(self, parameter: str) -> str | None:
        """Why the effect cannot follow ``parameter``; a crossover is ``crossovers_hz.<n>``, counted from 0."""
        crossover = re.fullmatch(r"crossovers_hz\.(\d+)", parameter)
        if crossover is None:
            return super().automation_problem(parameter)
        if int(crossover.group(1)) >= len(self.crossovers_hz):
            count = len(self.crossovers_hz)
            return f"no crossover {crossover.group(1)}; this multiband_compressor has {count} (0 to {count - 1})"
        return None

    def with_parameter(self, parameter: str, value: float) -> "MultibandCompressor":
        crossover = re.fullmatch(r"crossovers_hz\.(\d+)", parameter)
        if crossover is None:
            return super().with_parameter(parameter, value)
        crossovers = list(self.crossovers_hz)
        crossovers[int(crossover.group(1))] = value
        return dataclasses.replace(self, crossovers_hz=tuple(crossovers))

    @property
    def compressors(self) -> tuple[Compressor | None, ...]:
        """Each band's compressor, None where it is bypassed."""
        return tuple(None if band.bypass else band.compressor(self.sample_rate) for band in self.bands)

    def _filters(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each crossover's (lowpass, highpass, allpass) second-order sections."""
        rate = self.sample_rate
        return [(linkwitz_riley("lowpass", f, rate), linkwitz_riley("highpass", f, rate), allpass(f, rate)) for f in self.crossovers_hz]

    @property
    def settle_s(self) -> float:
        """Seconds of pre-roll for a cold start to match a warm one below -120 dBFS: the filters' chain, then the slowest compressor."""
        filters_s = sum(filter_settle_s(np.concatenate(sections), self.sample_rate) for sections in self._filters())
        return filters_s + max((compressor.settle_s for compressor in self.compressors if compressor), default=0.0)

    @property
    def tail_s(self) -> float:
        """The crossover filters ring out as they settle."""
        return sum(filter_settle_s(np.concatenate(sections), self.sample_rate) for sections in self._filters())

    def _init_state(self, channels: int) -> State:
        crossovers = len(self.crossovers_hz)
        state = {
            "lowpass_zi": np.zeros((crossovers, 2, 2, channels)),
            "highpass_zi": np.zeros((crossovers, 2, 2, channels)),
            "allpass_zi": np.zeros((crossovers, crossovers, 1, 2, channels)),
        }
        for index, compressor in enumerate(self.compressors):
            if compressor is not None:
                state.update({f"band{index}_{key}": value for key, value in compressor.init_state(channels).items()})
        return state

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._run(block, state, None)

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        return self._run(block, state, lanes)

    def _run(self, block: np.ndarray, state: State, lanes: Lanes | None) -> tuple[np.ndarray, State]:
        """Split, compress each band (following its ``bands.<n>.<field>`` lanes), add back."""
        new_state = {key: value.copy() for key, value in state.items()}
        bands, rest = [], block
        filters = self._filters()

        def run(kind: int, crossover: int, audio: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """``audio`` through crossover ``crossover``'s filter ``kind`` (0 lowpass, 1 highpass, 2 allpass), ramped if it is automated."""
            name = f"crossovers_hz.{crossover}"
            if lanes is None or name not in lanes.envelopes:
                return sosfilt(filters[crossover][kind], audio, zi)
            points, phase = lanes.control_points()
            freqs_hz = lanes.at(name, points)
            if kind == 2:
                sections = allpass(freqs_hz, self.sample_rate)
                grid_sos = np.concatenate([sections, np.broadcast_to(PASS_THROUGH, sections.shape)], axis=1)
                cascade_zi = np.concatenate([zi, np.zeros_like(zi)])
                return ramped_cascade(audio, cascade_zi, np.ascontiguousarray(grid_sos), phase), cascade_zi[:1]
            section = biquad("lowpass" if kind == 0 else "highpass", freqs_hz, self.sample_rate, q=BUTTERWORTH_Q)
            cascade_zi = zi.copy()
            return ramped_cascade(audio, cascade_zi, np.ascontiguousarray(np.stack([section, section], axis=1)), phase), cascade_zi

        for index in range(len(filters)):
            band, new_state["lowpass_zi"][index] = run(0, index, rest, state["lowpass_zi"][index])
            rest, new_state["highpass_zi"][index] = run(1, index, rest, state["highpass_zi"][index])
            for later in range(index + 1, len(filters)):
                band, new_state["allpass_zi"][index, later] = run(2, later, band, state["allpass_zi"][index, later])
            bands.append(band)
        bands.append(rest)
        mixes = lanes.per_frame("mix")[:, None] if lanes is not None and "mix" in lanes.envelopes else self.mix
        dry = np.sum(bands, axis=0) if np.any(mixes < 1.0) else None
        wet = np.zeros_like(block)
        for index, (band, compressor) in enumerate(zip(bands, self.compressors)):
            if compressor is not None:
                prefix = f"band{index}_"
                band_state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
                band_lanes = lanes.prefixed(f"bands.{index}.") if lanes is not None else None
                if band_lanes is not None and band_lanes.envelopes:
                    band, band_state = compressor.process_automated(band, band_state, band_lanes)
                else:
                    band, band_state = compressor.process(band, band_state)
                new_state.update({prefix + key: value for key, value in band_state.items()})
            wet += band
        out = wet if dry is None else (1.0 - mixes) * dry + mixes * wet
        return out, new_state
