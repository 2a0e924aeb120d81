"""Breakpoint automation envelopes, evaluated sample-accurately.

An envelope is a list of ``(time_s, value)`` points. Between points the value
is interpolated linearly, except after a point marked ``hold``, whose value
stays until the next point (a step). Before the first point and after the
last the value holds. Two points at the same time make a step too: the later
one applies from that time on. Evaluating any frame range gives the same
values as evaluating the whole timeline, so chunked renders stay exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import ParameterError
from .validate import check_number, check_sample_rate

HOLD = "hold"
"""The third item of a point whose value holds until the next point."""
CONTROL_PERIOD_FRAMES = 64
"""Frames between a control-rate parameter's updates, on a grid anchored at timeline frame 0."""


@dataclasses.dataclass(frozen=True)
class Envelope:
    """A breakpoint envelope.

    Parameters
    ----------
    times_s : tuple of float
        Non-decreasing breakpoint times in seconds, >= 0.
    values : tuple of float
        The value at each breakpoint, in the automated parameter's unit.
    holds : tuple of bool
        For each breakpoint, whether its value holds until the next one
        (default: none do, every segment is a ramp).
    """

    times_s: tuple[float, ...]
    values: tuple[float, ...]
    holds: tuple[bool, ...] = ()

    @classmethod
    def from_points(cls, points: Sequence[Sequence[float | str]], name: str = "automation") -> "Envelope":
        """Build from ``[[time_s, value], [time_s, value, "hold"], ...]``, checking every point; ``name`` prefixes errors."""
        if len(points) == 0:
            raise ParameterError(f"{name}: must hold at least one [time_s, value] point")
        times, values, holds = [], [], []
        for index, point in enumerate(points):
            if len(point) not in (2, 3) or (len(point) == 3 and point[2] != HOLD):
                raise ParameterError(f"{name}[{index}]: must be [time_s, value] or [time_s, value, {HOLD}], got {point!r}")
            times.append(check_number(f"{name}[{index}].time_s", point[0], minimum=0.0))
            values.append(check_number(f"{name}[{index}].value", point[1]))
            holds.append(len(point) == 3)
            if index and times[-1] < times[-2]:
                raise ParameterError(
                    f"{name}[{index}].time_s: times must not decrease, got {times[-1]:g} after {times[-2]:g}"
                )
        return cls(tuple(times), tuple(values), tuple(holds))

    def _breakpoints(self) -> tuple[list[float], list[float]]:
        """The points as a ramp-only envelope: a hold adds the held value again at the next point's time, just before it."""
        times, values = [], []
        for index, (time_s, value) in enumerate(zip(self.times_s, self.values)):
            times.append(time_s)
            values.append(value)
            if index < len(self.holds) and self.holds[index] and index + 1 < len(self.times_s):
                times.append(self.times_s[index + 1])
                values.append(value)
        return times, values

    def evaluate(self, start_frame: int, frames: int, sample_rate: float) -> np.ndarray:
        """Values at frames ``start_frame .. start_frame + frames - 1``, at time ``frame / sample_rate``.

        Returns
        -------
        numpy.ndarray
            float64, shaped (frames,).
        """
        sample_rate = check_sample_rate(sample_rate)
        return self.at_frames(start_frame + np.arange(frames, dtype=np.float64), sample_rate)

    def at_frames(self, timeline_frames: np.ndarray, sample_rate: float) -> np.ndarray:
        """Values at the given timeline frames (any, in any order), at time ``frame / sample_rate``."""
        return np.interp(np.asarray(timeline_frames, dtype=np.float64) / sample_rate, *self._breakpoints())

    def evaluate_on_grid(self, start_frame: int, frames: int, sample_rate: float, period_frames: int) -> np.ndarray:
        """Values at frames ``start_frame ..``, taken on a grid of ``period_frames`` anchored at frame 0 and ramped between its points.

        A step in the envelope becomes a ramp over one grid period, which
        keeps a switched parameter (a mute) from clicking; as the grid is
        anchored at frame 0, any frame range gives the same values.
        """
        first = start_frame // period_frames
        last = -(-(start_frame + frames) // period_frames)
        grid_frames = np.arange(first, last + 1, dtype=np.float64) * period_frames
        return np.interp(start_frame + np.arange(frames, dtype=np.float64), grid_frames, self.at_frames(grid_frames, sample_rate))

    def is_constant(self) -> bool:
        """True when every breakpoint holds the same value."""
        return len(set(self.values)) == 1


@dataclasses.dataclass(frozen=True)
class Lanes:
    """The automated parameters of one effect over one block: each parameter's envelope and where the block lies.

    Parameters
    ----------
    envelopes : mapping of str to Envelope
        By parameter name (a band's as ``bands.<n>.<field>``).
    start_frame : int
        The block's first frame on the timeline (may be negative in a pre-roll).
    frames : int
        The block's length in frames.
    sample_rate : float
        Frames per second.
    """

    envelopes: Mapping[str, Envelope]
    start_frame: int
    frames: int
    sample_rate: float

    def per_frame(self, parameter: str) -> np.ndarray:
        """The parameter's value at every frame of the block."""
        return self.envelopes[parameter].evaluate(self.start_frame, self.frames, self.sample_rate)

    def at(self, parameter: str, timeline_frames: np.ndarray) -> np.ndarray:
        """The parameter's value at the given timeline frames (inside the block or not)."""
        return self.envelopes[parameter].at_frames(timeline_frames, self.sample_rate)

    def control_points(self) -> tuple[np.ndarray, int]:
        """The control points that the block's frames lie between, as timeline frames
        :data:`CONTROL_PERIOD_FRAMES` apart, and how many frames the first lies before the block."""
        first_point = self.start_frame // CONTROL_PERIOD_FRAMES
        last_point = (self.start_frame + self.frames - 1) // CONTROL_PERIOD_FRAMES + 1
        return np.arange(first_point, last_point + 1) * CONTROL_PERIOD_FRAMES, self.start_frame - first_point * CONTROL_PERIOD_FRAMES

    def prefixed(self, prefix: str) -> "Lanes":
        """The lanes whose names start with ``prefix``, named without it (a band's lanes as its own)."""
        return Lanes({name[len(prefix) :]: envelope for name, envelope in self.envelopes.items() if name.startswith(prefix)}, self.start_frame, self.frames, self.sample_rate)
