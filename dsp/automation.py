"""Breakpoint automation envelopes, evaluated sample-accurately.

An envelope is a list of ``(time_s, value)`` points. Between points the value
is interpolated linearly; before the first and after the last it holds. Two
points at the same time make a step: the later one applies from that time on.
Evaluating any frame range gives the same values as evaluating the whole
timeline, so chunked renders stay exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .errors import ParameterError
from .validate import check_number, check_sample_rate


@dataclasses.dataclass(frozen=True)
class Envelope:
    """A breakpoint envelope.

    Parameters
    ----------
    times_s : tuple of float
        Non-decreasing breakpoint times in seconds, >= 0.
    values : tuple of float
        The value at each breakpoint, in the automated parameter's unit.
    """

    times_s: tuple[float, ...]
    values: tuple[float, ...]

    @classmethod
    def from_points(cls, points: Sequence[Sequence[float]], name: str = "automation") -> "Envelope":
        """Build from ``[[time_s, value], ...]``, checking every point; ``name`` prefixes errors."""
        if len(points) == 0:
            raise ParameterError(f"{name}: must hold at least one [time_s, value] point")
        times, values = [], []
        for index, point in enumerate(points):
            if len(point) != 2:
                raise ParameterError(f"{name}[{index}]: must be [time_s, value], got {point!r}")
            times.append(check_number(f"{name}[{index}].time_s", point[0], minimum=0.0))
            values.append(check_number(f"{name}[{index}].value", point[1]))
            if index and times[-1] < times[-2]:
                raise ParameterError(
                    f"{name}[{index}].time_s: times must not decrease, got {times[-1]:g} after {times[-2]:g}"
                )
        return cls(tuple(times), tuple(values))

    def evaluate(self, start_frame: int, frames: int, sample_rate: float) -> np.ndarray:
        """Values at frames ``start_frame .. start_frame + frames - 1``, at time ``frame / sample_rate``.

        Returns
        -------
        numpy.ndarray
            float64, shaped (frames,).
        """
        sample_rate = check_sample_rate(sample_rate)
        times = (start_frame + np.arange(frames, dtype=np.float64)) / sample_rate
        return np.interp(times, self.times_s, self.values)

    def is_constant(self) -> bool:
        """True when every breakpoint holds the same value."""
        return len(set(self.values)) == 1
