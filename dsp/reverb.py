"""Algorithmic reverb: a 16-line feedback delay network (FDN).

The network follows J.-M. Jot and A. Chaigne, "Digital delay networks for
designing artificial reverberators", 90th AES Convention, preprint 3030, 1991:

- 16 delay lines of mutually prime lengths ``d_i`` (samples), spread
  log-uniformly over 30 to 100 ms times ``0.2 + 0.8 * size``;
- a lossless feedback matrix, the 16x16 Hadamard matrix divided by 4 (applied
  as a fast Walsh-Hadamard transform);
- in each line an absorption filter, a one-pole lowpass
  ``H_i(z) = g_i (1 - p_i) / (1 - p_i z^-1)`` with DC gain
  ``g_i = 10 ** (-3 d_i / (fs * decay_s))``, so every mode decays by 60 dB in
  ``decay_s`` at low frequencies, and pole ``p_i`` chosen so that at
  ``damping_hz`` the line loses twice as many dB per pass, i.e. the RT60 there
  is ``decay_s / 2`` (Jot's rule of attenuation proportional to delay length,
  with ``damping_hz`` naming where the decay has halved);
- input and output gain vectors of fixed pseudo-random signs divided by 2,
  one pair per stereo side (left and right see decorrelated mixtures of the
  same lines).

A stereo signal gives a stereo wet signal whose side component is scaled by
``width`` (0 mono, 1 as the network makes it, up to 2 wider). A mono signal
gives a mono wet signal (the left output; ``width`` has no effect). Other
channel counts are refused. The wet signal is delayed by ``predelay_s`` and
blended as ``(1 - mix) * dry + mix * wet``. The wet level is not normalised:
like a room, a longer decay holds more energy (at 48 kHz the impulse
response's energy is +0.7 dB at 2 s and -7.7 dB at 0.5 s).

Everything is deterministic: the line lengths and sign vectors follow from the
parameters and fixed constants. The per-sample loop runs in numba (without
fastmath, so results do not depend on the CPU it runs on) with every line,
filter and predelay state carried, so blocks of any size give bit-identical
output.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import numba
import numpy as np

from .automation import CONTROL_PERIOD_FRAMES, Lanes
from .effect import Effect, State
from .errors import BlockError
from .validate import check_frequency, check_number

LINES = 16
MIN_LINE_MS = 30.0
MAX_LINE_MS = 100.0
MAX_DECAY_S = 60.0
MAX_PREDELAY_S = 1.0
_STEP = 256
_SIGN_ROWS = ("-++++-++++++--+-", "-+-++-++++--+--+", "-+-----+---+----", "++----+-++--+--+")
_SIGNS = np.array([[1.0 if sign == "+" else -1.0 for sign in row] for row in _SIGN_ROWS])
INPUT_GAINS = _SIGNS[:2] / 2.0
OUTPUT_GAINS = _SIGNS[2:] / 2.0


def _next_prime(n: int) -> int:
    """The smallest prime >= n."""
    candidate = max(n, 2)
    while any(candidate % k == 0 for k in range(2, math.isqrt(candidate) + 1)):
        candidate += 1
    return candidate


@functools.lru_cache(maxsize=64)
def line_lengths(sample_rate: float, size: float) -> np.ndarray:
    """Lengths in samples of the 16 delay lines: distinct primes, ascending.

    Spread log-uniformly over 30 to 100 ms, scaled by ``0.2 + 0.8 * size``,
    each raised to the next prime not already taken (distinct primes are
    mutually prime, which keeps the modes from piling up).
    """
    scale = 0.2 + 0.8 * size
    millis = MIN_LINE_MS * (MAX_LINE_MS / MIN_LINE_MS) ** (np.arange(LINES) / (LINES - 1)) * scale
    lengths: list[int] = []
    for ms in millis:
        length = _next_prime(round(ms * sample_rate / 1000.0))
        while lengths and length <= lengths[-1]:
            length = _next_prime(length + 1)
        lengths.append(length)
    lengths = np.array(lengths, dtype=np.int64)
    lengths.setflags(write=False)
    return lengths


def absorption_filters(lengths: np.ndarray, sample_rate: float, decay_s, damping_hz) -> tuple[np.ndarray, np.ndarray]:
    """DC gains ``g_i`` and poles ``p_i`` of the lines' one-pole absorption filters.

    ``decay_s`` and ``damping_hz`` are numbers, or columns (one row per
    setting) that broadcast against the lines to a row of filters each.

    ``g_i = 10 ** (-3 d_i / (fs * decay_s))`` (Jot & Chaigne 1991, eq. for a
    frequency-independent RT60). The pole makes ``|H_i|`` at ``damping_hz``
    equal to ``g_i ** 2``: with ``r = g_i`` and ``c = cos(2 pi damping_hz / fs)``,
    ``(1 - p)^2 / (1 - 2 p c + p^2) = r^2`` has the root
    ``p = (1 - r^2) / ((1 - r^2 c) + sqrt((1 - r^2 c)^2 - (1 - r^2)^2))``.
    """
    gains = 10.0 ** (-3.0 * lengths / (sample_rate * decay_s))
    cosine = np.cos(2.0 * math.pi * np.asarray(damping_hz) / sample_rate)
    r2 = gains**2
    near = 1.0 - r2 * cosine
    poles = (1.0 - r2) / (near + np.sqrt(near**2 - (1.0 - r2) ** 2))
    return gains, poles


@numba.njit(cache=True, nogil=True)
def _run_fdn(block, lines, offsets, lengths, positions, filter_state, predelay, predelay_position, feeds, all_poles, phase, in_gains, out_gains, mixes, widths, out):
    """Run the network in place on the state arrays, into ``out``; return (``out``, predelay_position).

    Works through the block in steps no longer than the shortest line, so every
    line's output for a step was written before the step began and each stage
    can run over the whole step. Each sample still sees the same operations in
    the same order, whatever the step or block lengths.

    ``feeds`` and ``all_poles`` (rows of :data:`LINES`) hold the absorption
    filters once, or one row per control period of the grid anchored at
    timeline frame 0 (the block's first frame ``phase`` frames into its first
    period): then no step crosses a period's end. ``mixes`` and ``widths``
    hold one value or one per frame.
    """
    frames, channels = block.shape
    predelay_length = predelay.shape[0]
    step = min(_STEP, lengths.min())
    values = np.empty((LINES, step))
    inputs = np.empty((channels, step))
    wet = np.empty((channels, step))
    controlled = feeds.shape[0] > 1
    mix_step = 1 if mixes.shape[0] > 1 else 0
    width_step = 1 if widths.shape[0] > 1 else 0
    start = 0
    while start < frames:
        count = min(step, frames - start)
        row = 0
        if controlled:
            row = (start + phase) // CONTROL_PERIOD_FRAMES
            count = min(count, (row + 1) * CONTROL_PERIOD_FRAMES - (start + phase))
        feed = feeds[row]
        poles = all_poles[row]
        if predelay_length == 0:
            inputs[:, :count] = block[start : start + count].T
        else:
            for b in range(count):
                for ch in range(channels):
                    inputs[ch, b] = predelay[predelay_position, ch]
                    predelay[predelay_position, ch] = block[start + b, ch]
                predelay_position += 1
                if predelay_position == predelay_length:
                    predelay_position = 0
        for i in range(LINES):
            base, position = offsets[i], positions[i]
            first = min(count, lengths[i] - position)
            values[i, :first] = lines[base + position : base + position + first]
            values[i, first:count] = lines[base : base + count - first]
        for i in range(0, LINES, 8):
            f0, f1, f2, f3, f4, f5, f6, f7 = feed[i], feed[i + 1], feed[i + 2], feed[i + 3], feed[i + 4], feed[i + 5], feed[i + 6], feed[i + 7]
            p0, p1, p2, p3, p4, p5, p6, p7 = poles[i], poles[i + 1], poles[i + 2], poles[i + 3], poles[i + 4], poles[i + 5], poles[i + 6], poles[i + 7]
            s0, s1, s2, s3 = filter_state[i], filter_state[i + 1], filter_state[i + 2], filter_state[i + 3]
            s4, s5, s6, s7 = filter_state[i + 4], filter_state[i + 5], filter_state[i + 6], filter_state[i + 7]
            for b in range(count):
                s0 = f0 * values[i, b] + p0 * s0
                s1 = f1 * values[i + 1, b] + p1 * s1
                s2 = f2 * values[i + 2, b] + p2 * s2
                s3 = f3 * values[i + 3, b] + p3 * s3
                s4 = f4 * values[i + 4, b] + p4 * s4
                s5 = f5 * values[i + 5, b] + p5 * s5
                s6 = f6 * values[i + 6, b] + p6 * s6
                s7 = f7 * values[i + 7, b] + p7 * s7
                values[i, b], values[i + 1, b], values[i + 2, b], values[i + 3, b] = s0, s1, s2, s3
                values[i + 4, b], values[i + 5, b], values[i + 6, b], values[i + 7, b] = s4, s5, s6, s7
            filter_state[i], filter_state[i + 1], filter_state[i + 2], filter_state[i + 3] = s0, s1, s2, s3
            filter_state[i + 4], filter_state[i + 5], filter_state[i + 6], filter_state[i + 7] = s4, s5, s6, s7
        for ch in range(channels):
            for b in range(count):
                wet[ch, b] = out_gains[ch, 0] * values[0, b]
            for i in range(1, LINES):
                gain = out_gains[ch, i]
                for b in range(count):
                    wet[ch, b] += gain * values[i, b]
        half = 1
        while half < LINES:
            for k in range(LINES // 2):
                i = (k // half) * 2 * half + k % half
                for b in range(count):
                    upper = values[i, b]
                    lower = values[i + half, b]
                    values[i, b] = upper + lower
                    values[i + half, b] = upper - lower
            half *= 2
        for i in range(LINES):
            for b in range(count):
                values[i, b] *= 0.25
            for ch in range(channels):
                gain = in_gains[ch, i]
                for b in range(count):
                    values[i, b] += gain * inputs[ch, b]
        for i in range(LINES):
            base, position = offsets[i], positions[i]
            first = min(count, lengths[i] - position)
            lines[base + position : base + position + first] = values[i, :first]
            lines[base : base + count - first] = values[i, first:count]
            position += count
            positions[i] = position - lengths[i] if position >= lengths[i] else position
        if channels == 2:
            for b in range(count):
                mid = 0.5 * (wet[0, b] + wet[1, b])
                side = 0.5 * widths[(start + b) * width_step] * (wet[0, b] - wet[1, b])
                wet[0, b] = mid + side
                wet[1, b] = mid - side
        for b in range(count):
            mix = mixes[(start + b) * mix_step]
            for ch in range(channels):
                out[start + b, ch] = (1.0 - mix) * block[start + b, ch] + mix * wet[ch, b]
        start += count
    return out, predelay_position


@dataclasses.dataclass(frozen=True)
class Reverb(Effect):
    """Feedback-delay-network reverb with a set RT60 and frequency-dependent decay.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    decay_s : float
        RT60 at low frequencies in seconds, > 0 and up to 60.
    predelay_s : float
        Delay of the wet signal in seconds, 0 to 1 (rounded to the nearest sample).
    size : float
        0 to 1; scales the delay lines from 6-20 ms (0) to 30-100 ms (1).
    damping_hz : float
        Frequency in Hz, below Nyquist, at which the RT60 is half of ``decay_s``.
    width : float
        Stereo spread of the wet signal, 0 (mono) to 2.
    mix : float
        Wet share of a linear crossfade, 0 (dry) to 1 (wet).
    """

    decay_s: float = 2.0
    predelay_s: float = 0.0
    size: float = 0.5
    damping_hz: float = 6000.0
    width: float = 1.0
    mix: float = 0.3

    type_name: ClassVar[str] = "reverb"
    automatable: ClassVar[tuple[str, ...]] = ("decay_s", "damping_hz", "width", "mix")

    def _validate(self) -> None:
        check_number("decay_s", self.decay_s, exclusive_minimum=0.0, maximum=MAX_DECAY_S)
        check_number("predelay_s", self.predelay_s, minimum=0.0, maximum=MAX_PREDELAY_S)
        check_number("size", self.size, minimum=0.0, maximum=1.0)
        check_frequency("damping_hz", self.damping_hz, self.sample_rate)
        check_number("width", self.width, minimum=0.0, maximum=2.0)
        check_number("mix", self.mix, minimum=0.0, maximum=1.0)

    @property
    def predelay_samples(self) -> int:
        """The predelay in whole samples (halves round up)."""
        return math.floor(self.predelay_s * self.sample_rate + 0.5)

    @property
    def tail_s(self) -> float:
        """Seconds to fall 120 dB (two RT60s), plus the predelay and the longest line."""
        longest_s = line_lengths(self.sample_rate, self.size)[-1] / self.sample_rate
        return 2.0 * self.decay_s + self.predelay_samples / self.sample_rate + longest_s

    @property
    def settle_s(self) -> float:
        """Earlier input still audible above -120 dB: the tail."""
        return self.tail_s

    def _init_state(self, channels: int) -> State:
        if channels > 2:
            raise BlockError(f"block: reverb takes 1 or 2 channels, got {channels}")
        lengths = line_lengths(self.sample_rate, self.size)
        return {
            "lines": np.zeros(int(lengths.sum())),
            "positions": np.zeros(LINES, dtype=np.int64),
            "filter_state": np.zeros(LINES),
            "predelay": np.zeros((self.predelay_samples, channels)),
            "predelay_position": np.array(0, dtype=np.int64),
        }

    def automation_problem(self, parameter: str) -> str | None:
        """Why the reverb cannot follow ``parameter``: ``size`` and ``predelay_s`` set the lengths of its delay lines, fixed for a render."""
        if parameter in ("size", "predelay_s"):
            return f"the reverb's {parameter} sets the length of its delay lines, which stays fixed through a render; it cannot move"
        return super().automation_problem(parameter)

    def _process(self, block: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        lengths = line_lengths(self.sample_rate, self.size)
        gains, poles = absorption_filters(lengths, self.sample_rate, self.decay_s, self.damping_hz)
        return self._run(block, state, (gains * (1.0 - poles))[None, :], poles[None, :], 0, np.array([float(self.mix)]), np.array([float(self.width)]))

    def _process_automated(self, block: np.ndarray, state: State, lanes: Lanes) -> tuple[np.ndarray, State]:
        """Decay and damping move the absorption filters once per control period; width and mix follow every frame."""
        lengths = line_lengths(self.sample_rate, self.size)
        phase = 0
        if "decay_s" in lanes.envelopes or "damping_hz" in lanes.envelopes:
            points, phase = lanes.control_points()
            decays_s = lanes.at("decay_s", points) if "decay_s" in lanes.envelopes else np.full(points.shape, self.decay_s)
            damping_hz = lanes.at("damping_hz", points) if "damping_hz" in lanes.envelopes else np.full(points.shape, self.damping_hz)
            gains, poles = absorption_filters(lengths, self.sample_rate, decays_s[:, None], damping_hz[:, None])
            feeds = gains * (1.0 - poles)
        else:
            gains, filter_poles = absorption_filters(lengths, self.sample_rate, self.decay_s, self.damping_hz)
            feeds, poles = (gains * (1.0 - filter_poles))[None, :], filter_poles[None, :]
        mixes = lanes.per_frame("mix") if "mix" in lanes.envelopes else np.array([float(self.mix)])
        widths = lanes.per_frame("width") if "width" in lanes.envelopes else np.array([float(self.width)])
        return self._run(block, state, feeds, poles, phase, mixes, widths)

    def _run(
        self, block: np.ndarray, state: State, feeds: np.ndarray, poles: np.ndarray, phase: int, mixes: np.ndarray, widths: np.ndarray
    ) -> tuple[np.ndarray, State]:
        """The block through the network with the absorption filters, mix and width given once or over time (see :func:`_run_fdn`)."""
        channels = block.shape[1]
        lengths = line_lengths(self.sample_rate, self.size)
        new_state = {key: state[key].copy() for key in ("lines", "positions", "filter_state", "predelay")}
        out, predelay_position = _run_fdn(
            block,
            new_state["lines"],
            np.concatenate([[0], np.cumsum(lengths)[:-1]]),
            lengths,
            new_state["positions"],
            new_state["filter_state"],
            new_state["predelay"],
            int(state["predelay_position"]),
            np.ascontiguousarray(feeds),
            np.ascontiguousarray(poles),
            phase,
            INPUT_GAINS[:channels],
            OUTPUT_GAINS[:channels],
            np.ascontiguousarray(mixes, dtype=np.float64),
            np.ascontiguousarray(widths, dtype=np.float64),
            np.empty_like(block),
        )
        new_state["predelay_position"] = np.array(predelay_position, dtype=np.int64)
        return out, new_state
