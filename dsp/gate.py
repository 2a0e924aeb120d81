"""Noise gate with hold: passes the signal while it is loud, attenuates it when quiet.

The key is the sample peak ``max_c |x[n, c]|`` over all channels (the channels
are linked: one gain for all), of the input or, built with ``key_input``, of a
sidechain key passed to ``process`` (a kick opening a gate on a bass). While the key reaches ``threshold_db`` the gate
is open; after the last sample at or above the threshold it stays open for
exactly ``round(hold_s * sample_rate)`` more samples (a counter carried in the
state), then closes. The gain, in linear amplitude, moves towards 1 (open) with
the one-pole ``attack_s`` and towards ``10^(range_db / 20)`` (closed) with the
one-pole ``release_s`` (see :mod:`dsp.envelope`): closing fades the signal by
8.7 dB per ``release_s`` until it reaches the range.
"""

from __future__ import annotations

import dataclasses
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


@numba.njit(cache=True, nogil=True)
def _gate(
    audio: np.ndarray,
    key_audio: np.ndarray,
    thresholds: np.ndarray,
    closed_gains: np.ndarray,
    holds_frames: np.ndarray,
    attacks: np.ndarray,
    releases: np.ndarray,
    gain_state: np.ndarray,
    hold_state: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """Gate ``audio`` (frames, channels) as ``key_audio`` (frames, any channels) opens it, updating ``gain_state`` and ``hold_state`` in place.

    ``thresholds`` and ``closed_gains`` (linear), ``holds_frames`` and the
    one-pole ``attacks`` and ``releases`` hold one value for all frames or one per frame.
    """
    frames, channels = audio.shape
    gain = gain_state[0]
    remaining = hold_state[0]
    threshold_step = 1 if thresholds.shape[0] > 1 else 0
    closed_step = 1 if closed_gains.shape[0] > 1 else 0
    hold_step = 1 if holds_frames.shape[0] > 1 else 0
    attack_step = 1 if attacks.shape[0] > 1 else 0
    release_step = 1 if releases.shape[0] > 1 else 0
    for n in range(frames):
        key = 0.0
        for c in range(key_audio.shape[1]):
            key = max(key, abs(key_audio[n, c]))
        if key >= thresholds[n * threshold_step]:
            remaining = holds_frames[n * hold_step]
            target = 1.0
        elif remaining > 0:
            remaining -= 1
            target = 1.0
        else:
            target = closed_gains[n * closed_step]
        gain = branching_step(gain, target, attacks[n * attack_step], releases[n * release_step])
        for c in range(channels):
            out[n, c] = audio[n, c] * gain
    gain_state[0] = gain
    hold_state[0] = remaining
    return out


@dataclasses.dataclass(frozen=True)
class Gate(Effect):
    """Noise gate with attack, hold and release, linked across channels.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    threshold_db : float
        Sample-peak level, in dBFS, at or above which the gate opens.
    range_db : float
        Gain in dB while closed, <= 0 (-80: nearly silent; 0: no gating).
    attack_s : float
        Opening time constant in seconds, >= 0.
    hold_s : float
        Seconds the gate stays fully open after the key last reached the
        threshold, >= 0 (rounded to whole samples).
    release_s : float
        Closing time constant in seconds, >= 0.
    key_input : bool
        The gate opens on a sidechain key (``process(..., key=)``) instead of
        the input; keyword only.
    """

    threshold_db: float
    range_db: float = -80.0
    attack_s: float = 0.001
    hold_s: float = 0.01
    release_s: float = 0.1
    key_input: bool = dataclasses.field(default=False, kw_only=True)

    type_name: ClassVar[str] = "gate"
    automatable: ClassVar[tuple[str, ...]] = ("threshold_db", "range_db", "attack_s", "hold_s", "release_s")

    def _validate(self) -> None:
        check_number("threshold_db", self.threshold_db)
        check_number("range_db", self.range_db, maximum=0.0)
        check_number("attack_s", self.attack_s, minimum=0.0)
        check_number("hold_s", self.hold_s, minimum=0.0)
        check_number("release_s", self.release_s, minimum=0.0)

    @property
    def hold_frames(self) -> int:
        """The hold time in whole samples."""
        return int(round(self.hold_s * self.sample_rate))

    @property
    def settle_s(self) -> float:
        """Seconds of pre-roll for a cold start to match a warm one below -120 dBFS.

        After ``hold_s`` both starts agree on whether the gate is held open;
        from then on their gains (at most 1 apart) follow the same target and
        the difference shrinks at least as fast as the slower one-pole.
        """
        return self.hold_frames / self.sample_rate + SETTLE_TIME_CONSTANTS * max(self.attack_s, self.release_s)

    def _init_state(self, channels: int) -> State:
        return {
            "gain": np.array([db_to_linear(self.range_db)]),
            "hold_remaining": np.zeros(1, dtype=np.int64),
        }

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._run(block, state, {}, block)

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        return self._run(block, state, {name: lanes.per_frame(name) for name in lanes.envelopes}, block)

    def _process_keyed(self, block: np.ndarray, state: State, key: np.ndarray, lanes: Lanes | None) -> tuple[np.ndarray, State]:
        automated = {} if lanes is None else {name: lanes.per_frame(name) for name in lanes.envelopes}
        return self._run(block, state, automated, key)

    def _run(self, block: np.ndarray, state: State, automated: dict[str, np.ndarray], key: np.ndarray) -> tuple[np.ndarray, State]:
        """The block gated as ``key`` opens it, its parameters in ``automated`` (one value per frame) following their values."""
        rate = self.sample_rate

        def per_frame(name: str, convert, convert_all) -> np.ndarray:
            return convert_all(automated[name]) if name in automated else np.array([convert(getattr(self, name))])

        gain = state["gain"].copy()
        hold_remaining = state["hold_remaining"].copy()
        out = _gate(
            block,
            key,
            per_frame("threshold_db", db_to_linear, db_to_linear),
            per_frame("range_db", db_to_linear, db_to_linear),
            per_frame("hold_s", lambda s: int(round(s * rate)), lambda s: np.round(s * rate).astype(np.int64)),
            per_frame("attack_s", lambda s: one_pole_coefficient(s, rate), lambda s: one_pole_coefficients(s, rate)),
            per_frame("release_s", lambda s: one_pole_coefficient(s, rate), lambda s: one_pole_coefficients(s, rate)),
            gain,
            hold_remaining,
            np.empty_like(block),
        )
        return out, {"gain": gain, "hold_remaining": hold_remaining}
