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
from collections.abc import Mapping
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
_EXACT_LINE = np.empty(0)
"""The ``delays`` of an exact line (see :func:`_run_delay`)."""
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


@numba.njit(inline="always")
def _run_exact_line(block, buffer, position, feedback, mix, out):
    """:func:`_run_delay`'s plain case (an exact line, no high-cut, no ping-pong, feedback and mix fixed); returns the new position.

    Each echo was written a whole line ago, so no frame of a span that ends
    by the line's end reads what the span writes: the loop over its frames
    has no recursion and vectorises. Every sample sees the same operations
    as in the general loop.
    """
    frames, channels = block.shape
    length = buffer.shape[0]
    dry = 1.0 - mix
    start = 0
    while start < frames:
        count = min(frames - start, length - position)
        if channels == 2:
            for k in range(count):
                left, right = buffer[position + k, 0], buffer[position + k, 1]
                out[start + k, 0] = dry * block[start + k, 0] + mix * left
                out[start + k, 1] = dry * block[start + k, 1] + mix * right
                buffer[position + k, 0] = block[start + k, 0] + feedback * left
                buffer[position + k, 1] = block[start + k, 1] + feedback * right
        else:
            for ch in range(channels):
                for k in range(count):
                    delayed = buffer[position + k, ch]
                    out[start + k, ch] = dry * block[start + k, ch] + mix * delayed
                    buffer[position + k, ch] = block[start + k, ch] + feedback * delayed
        start += count
        position += count
        if position == length:
            position = 0
    return position


@numba.njit(cache=True, nogil=True)
def _run_delay(block, buffer, position, delays, feedbacks, all_coeffs, filter_state, use_filter, ping_pong, mixes, out):
    """Run the loop in place on ``buffer`` and ``filter_state``, into ``out``; return (``out``, position).

    ``feedbacks``, ``mixes`` and the high-cut's coefficients ``all_coeffs``
    (rows of six) hold one value (row) for all frames or one per frame.
    ``delays`` is empty for an exact line, whose echo is the sample written
    a whole line ago; on a line with room to move it holds the delay in
    samples (one value or one per frame, at least 1), read between two
    samples by linear interpolation.
    """
    frames, channels = block.shape
    length = buffer.shape[0]
    if delays.shape[0] == 0 and not use_filter and not ping_pong and mixes.shape[0] == 1 and feedbacks.shape[0] == 1:
        return out, _run_exact_line(block, buffer, position, feedbacks[0], mixes[0], out)
    returned = np.empty(channels)
    mix_step = 1 if mixes.shape[0] > 1 else 0
    feedback_step = 1 if feedbacks.shape[0] > 1 else 0
    coeffs_step = 1 if all_coeffs.shape[0] > 1 else 0
    gliding = delays.shape[0] > 0
    delay_step = 1 if delays.shape[0] > 1 else 0
    newer, older, fraction = position, position, 0.0
    for n in range(frames):
        mix = mixes[n * mix_step]
        feedback = feedbacks[n * feedback_step]
        coeffs = all_coeffs[n * coeffs_step]
        b0, b1, b2, a1, a2 = coeffs[0], coeffs[1], coeffs[2], coeffs[4], coeffs[5]
        if gliding:
            delay = delays[n * delay_step]
            whole = int(delay)
            fraction = delay - whole
            newer = position - whole
            if newer < 0:
                newer += length
            older = newer - 1 if newer > 0 else length - 1
        for ch in range(channels):
            delayed = buffer[position, ch]
            if gliding:
                delayed = buffer[newer, ch] + fraction * (buffer[older, ch] - buffer[newer, ch])
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
    max_time_s : float or None
        The longest time, in seconds, that automation of ``time_s`` reaches:
        the line then holds that much and reads between samples (linear
        interpolation), so a moving time glides like a tape delay's. None: the
        line holds ``time_s`` exactly. Keyword only; see :meth:`for_automation`.
    """

    time_s: float
    feedback: float = 0.3
    mix: float = 0.5
    ping_pong: bool = False
    highcut_hz: float | None = None
    max_time_s: float | None = dataclasses.field(default=None, kw_only=True)

    type_name: ClassVar[str] = "delay"
    automatable: ClassVar[tuple[str, ...]] = ("time_s", "feedback", "mix", "highcut_hz")

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
        if self.max_time_s is not None:
            check_number("max_time_s", self.max_time_s, minimum=time_s, maximum=MAX_TIME_S)

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

    @property
    def capacity_frames(self) -> int:
        """Frames the line holds: the delay in samples, or room for ``max_time_s`` and the sample after it."""
        if self.max_time_s is None:
            return self.delay_samples
        return math.floor(self.max_time_s * self.sample_rate) + 2

    def for_automation(self, ranges: Mapping[str, tuple[float, float]]) -> "Delay":
        """The delay with room in its line for the longest ``time_s`` that automation reaches."""
        if "time_s" not in ranges:
            return self
        return dataclasses.replace(self, max_time_s=max(self.time_s, ranges["time_s"][1], self.max_time_s or 0.0))

    def _init_state(self, channels: int) -> State:
        if self.ping_pong and channels != 2:
            raise BlockError(f"block: ping_pong needs 2 channels, got {channels}")
        return {
            "buffer": np.zeros((self.capacity_frames, channels)),
            "position": np.array(0, dtype=np.int64),
            "filter_state": np.zeros((2, channels)),
        }

    def _coeffs(self) -> np.ndarray:
        """The high-cut's coefficients as one row (a pass-through row without one)."""
        if self.highcut_hz is None:
            return np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
        return biquad("lowpass", self.highcut_hz, self.sample_rate)[None, :]

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._run(block, state, np.array([float(self.feedback)]), np.array([float(self.mix)]), self._coeffs(), self._static_delay())

    def _static_delay(self) -> np.ndarray | None:
        """The delay in samples for a line with room to move (None for an exact line)."""
        return None if self.max_time_s is None else np.array([float(self.delay_samples)])

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        """An automated ``highcut_hz`` puts the high-cut in the loop (a delay without one gets it) with its coefficients set every frame."""
        feedbacks = lanes.per_frame("feedback") if "feedback" in lanes.envelopes else np.array([float(self.feedback)])
        mixes = lanes.per_frame("mix") if "mix" in lanes.envelopes else np.array([float(self.mix)])
        coeffs = biquad("lowpass", lanes.per_frame("highcut_hz"), self.sample_rate) if "highcut_hz" in lanes.envelopes else self._coeffs()
        delays = self._static_delay()
        if "time_s" in lanes.envelopes:
            if self.max_time_s is None:
                raise ParameterError("time_s: a delay follows automation of time_s only when built with room for it (see Delay.for_automation)")
            delays = np.clip(lanes.per_frame("time_s") * self.sample_rate, 1.0, self.capacity_frames - 2)
        return self._run(block, state, feedbacks, mixes, coeffs, delays, "highcut_hz" in lanes.envelopes)

    def _run(
        self, block: np.ndarray, state: State, feedbacks: np.ndarray, mixes: np.ndarray, coeffs: np.ndarray, delays: np.ndarray | None, filtered: bool = False
    ) -> tuple[np.ndarray, State]:
        """The block through the delay line, with the feedback, the wet share, the high-cut and (on a line with room) the delay in samples each given once or per frame."""
        buffer = state["buffer"].copy()
        filter_state = state["filter_state"].copy()
        out, position = _run_delay(
            block, buffer, int(state["position"]), _EXACT_LINE if delays is None else np.ascontiguousarray(delays, dtype=np.float64), feedbacks,
            np.ascontiguousarray(coeffs), filter_state, filtered or self.highcut_hz is not None, bool(self.ping_pong), mixes, np.empty_like(block),
        )  # fmt: skip
        return out, {"buffer": buffer, "position": np.array(position, dtype=np.int64), "filter_state": filter_state}
