"""Feedback delay with optional ping-pong and a high-cut filter in the loop.

Each channel has a ring buffer of ``round(time_s * sample_rate)`` frames
(halves round up), so echoes land exactly on a sample. Per sample::

    delayed = buffer[n - D]
    wet     = delayed
    buffer[n] = x[n] + feedback * highcut(delayed)

The first echo is the unfiltered input; each repeat passes the high-cut once
more (a second-order Butterworth lowpass, RBJ cookbook, ``q = 0.7071``), as in a
tape or analogue delay. With ``ping_pong`` (stereo only) the mono sum
``(left + right) / 2`` enters the left line and each line feeds the other, so
echoes alternate left, right, left... The output is the linear crossfade
``(1 - mix) * dry + mix * wet``.

The feedback loop runs in numba with the ring buffer and filter state carried,
so blocks of any size give bit-identical output.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import ClassVar

import numba
import numpy as np

from .automation import Lanes
from .effect import Effect, State
from .eq import biquad
from .errors import BlockError, ParameterError
from .validate import check_frequency, check_number

MAX_TIME_S = 20.0
_TAIL_LEVEL = 1e-6  # -120 dB
_NOTE = re.compile(r"^(?P<num>[1-9][0-9]*)/(?P<den>[1-9][0-9]*)(?P<mod>[.t]?)$")
_NOTE_DENOMINATORS = (1, 2, 4, 8, 16, 32, 64, 128)
_NOTE_MODIFIERS = {"": 1.0, ".": 1.5, "t": 2.0 / 3.0}


def note_to_seconds(time_note: str, tempo_bpm: float) -> float:
    """Length in seconds of a note value at a tempo.

    Parameters
    ----------
    time_note : str
        ``"N/D"`` of a whole note, ``D`` a power of two from 1 to 128
        (``"1/4"`` is a quarter note, one beat), optionally followed by ``"."``
        (dotted, 1.5 times as long) or ``"t"`` (triplet, 2/3 as long):
        ``"1/8."``, ``"1/8t"``, ``"3/16"``.
    tempo_bpm : float
        Quarter notes per minute, > 0.

    Returns
    -------
    float
        ``4 * N / D * 60 / tempo_bpm`` times the modifier, in seconds.

    Raises
    ------
    ParameterError
        For a malformed note value or a tempo that is not a positive number.
    """
    tempo_bpm = check_number("tempo_bpm", tempo_bpm, exclusive_minimum=0.0)
    match = _NOTE.match(time_note) if isinstance(time_note, str) else None
    if match is None:
        raise ParameterError(f'time_note: must look like "1/4", "1/8." (dotted) or "1/8t" (triplet), got {time_note!r}')
    denominator = int(match["den"])
    if denominator not in _NOTE_DENOMINATORS:
        raise ParameterError(f"time_note: denominator must be a power of two from 1 to 128, got {time_note!r}")
    whole_notes = int(match["num"]) / denominator * _NOTE_MODIFIERS[match["mod"]]
    return whole_notes * 4.0 * 60.0 / tempo_bpm


@numba.njit(cache=True, nogil=True)
def _run_delay(block, buffer, position, feedbacks, all_coeffs, filter_state, use_filter, ping_pong, mixes):
    """Run the loop in place on ``buffer`` and ``filter_state``; return (output, position).

    ``feedbacks``, ``mixes`` and the high-cut's coefficients ``all_coeffs``
    (rows of six) hold one value (row) for all frames or one per frame.
    """
    frames, channels = block.shape
    length = buffer.shape[0]
    out = np.empty((frames, channels))
    returned = np.empty(channels)
    mix_step = 1 if mixes.shape[0] > 1 else 0
    feedback_step = 1 if feedbacks.shape[0] > 1 else 0
    coeffs_step = 1 if all_coeffs.shape[0] > 1 else 0
    for n in range(frames):
        mix = mixes[n * mix_step]
        feedback = feedbacks[n * feedback_step]
        coeffs = all_coeffs[n * coeffs_step]
        b0, b1, b2, a1, a2 = coeffs[0], coeffs[1], coeffs[2], coeffs[4], coeffs[5]
        for ch in range(channels):
            delayed = buffer[position, ch]
            out[n, ch] = (1.0 - mix) * block[n, ch] + mix * delayed
            if use_filter:
                filtered = b0 * delayed + filter_state[0, ch]
                filter_state[0, ch] = b1 * delayed - a1 * filtered + filter_state[1, ch]
                filter_state[1, ch] = b2 * delayed - a2 * filtered
                returned[ch] = feedback * filtered
            else:
                returned[ch] = feedback * delayed
        if ping_pong:
            buffer[position, 0] = 0.5 * (block[n, 0] + block[n, 1]) + returned[1]
            buffer[position, 1] = returned[0]
        else:
            for ch in range(channels):
                buffer[position, ch] = block[n, ch] + returned[ch]
        position += 1
        if position == length:
            position = 0
    return out, position


@dataclasses.dataclass(frozen=True)
class Delay(Effect):
    """A feedback delay line per channel, exact to the sample.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    time_s : float
        Delay time in seconds, up to 20 s, rounded to the nearest sample (at
        least one). :meth:`from_note` builds it from a note value and a tempo.
    feedback : float
        Gain of each repeat relative to the one before, ``-1 < feedback < 1``.
    mix : float
        Wet share of a linear crossfade, 0 (dry) to 1 (wet).
    ping_pong : bool
        Alternate the echoes between left and right (needs a stereo signal).
    highcut_hz : float or None
        Corner in Hz of the lowpass inside the feedback loop, below Nyquist;
        ``None`` for none.
    """

    time_s: float
    feedback: float = 0.3
    mix: float = 0.5
    ping_pong: bool = False
    highcut_hz: float | None = None

    type_name: ClassVar[str] = "delay"
    automatable: ClassVar[tuple[str, ...]] = ("feedback", "mix", "highcut_hz")

    @classmethod
    def from_note(cls, sample_rate: float, time_note: str, tempo_bpm: float, **params) -> Delay:
        """Build a delay whose time is a note value at ``tempo_bpm`` (see :func:`note_to_seconds`)."""
        return cls(sample_rate, note_to_seconds(time_note, tempo_bpm), **params)

    def _validate(self) -> None:
        time_s = check_number("time_s", self.time_s, maximum=MAX_TIME_S)
        if math.floor(time_s * self.sample_rate + 0.5) < 1:
            raise ParameterError(
                f"time_s: must be at least half a sample (>= {0.5 / self.sample_rate:.3g} s "
                f"at sample_rate {self.sample_rate:g}), got {time_s:g}"
            )
        feedback = check_number("feedback", self.feedback)
        if not -1.0 < feedback < 1.0:
            raise ParameterError(f"feedback: must be > -1 and < 1, got {feedback:g}")
        check_number("mix", self.mix, minimum=0.0, maximum=1.0)
        if not isinstance(self.ping_pong, (bool, np.bool_)):
            raise ParameterError(f"ping_pong: must be true or false, got {self.ping_pong!r}")
        if self.highcut_hz is not None:
            check_frequency("highcut_hz", self.highcut_hz, self.sample_rate)

    @property
    def delay_samples(self) -> int:
        """The delay time in whole samples (``time_s`` rounded, halves up)."""
        return math.floor(self.time_s * self.sample_rate + 0.5)

    @property
    def tail_s(self) -> float:
        """Seconds until the repeats fall below -120 dB of the first echo."""
        echoes = 1
        if self.feedback != 0.0:
            echoes += math.floor(math.log(_TAIL_LEVEL) / math.log(abs(self.feedback)))
        return echoes * self.delay_samples / self.sample_rate

    @property
    def settle_s(self) -> float:
        """Earlier input still audible above -120 dB: the tail."""
        return self.tail_s

    def _init_state(self, channels: int) -> State:
        if self.ping_pong and channels != 2:
            raise BlockError(f"block: ping_pong needs 2 channels, got {channels}")
        return {
            "buffer": np.zeros((self.delay_samples, channels)),
            "position": np.array(0, dtype=np.int64),
            "filter_state": np.zeros((2, channels)),
        }

    def automation_problem(self, parameter: str) -> str | None:
        """Why the delay cannot follow ``parameter``: ``time_s`` sets the length of its line, fixed for a render."""
        if parameter == "time_s":
            return "the delay's time_s sets the length of its line, which stays fixed through a render; it cannot move"
        return super().automation_problem(parameter)

    def _coeffs(self) -> np.ndarray:
        """The high-cut's coefficients as one row (a pass-through row without one)."""
        if self.highcut_hz is None:
            return np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
        return biquad("lowpass", self.highcut_hz, self.sample_rate)[None, :]

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._run(block, state, np.array([float(self.feedback)]), np.array([float(self.mix)]), self._coeffs())

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        """An automated ``highcut_hz`` puts the high-cut in the loop (a delay without one gets it) with its coefficients set every frame."""
        feedbacks = lanes.per_frame("feedback") if "feedback" in lanes.envelopes else np.array([float(self.feedback)])
        mixes = lanes.per_frame("mix") if "mix" in lanes.envelopes else np.array([float(self.mix)])
        coeffs = biquad("lowpass", lanes.per_frame("highcut_hz"), self.sample_rate) if "highcut_hz" in lanes.envelopes else self._coeffs()
        return self._run(block, state, feedbacks, mixes, coeffs, "highcut_hz" in lanes.envelopes)

    def _run(
        self, block: np.ndarray, state: State, feedbacks: np.ndarray, mixes: np.ndarray, coeffs: np.ndarray, filtered: bool = False
    ) -> tuple[np.ndarray, State]:
        """The block through the delay line, with the feedback, the wet share and the high-cut each given once or per frame."""
        buffer = state["buffer"].copy()
        filter_state = state["filter_state"].copy()
        out, position = _run_delay(
            block,
            buffer,
            int(state["position"]),
            feedbacks,
            np.ascontiguousarray(coeffs),
            filter_state,
            filtered or self.highcut_hz is not None,
            bool(self.ping_pong),
            mixes,
        )
        new_state = {"buffer": buffer, "position": np.array(position, dtype=np.int64), "filter_state": filter_state}
        return out, new_state
