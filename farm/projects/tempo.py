"""A project's tempo map: where a position in beats falls in seconds, under a steady, stepped or ramped tempo."""

from __future__ import annotations

import bisect
import math

MIN_BPM = 0.001
MAX_BPM = 1000.0


class TempoMap:
    """Beats to seconds for a tempo that is ``base_bpm`` until the first change, then follows ``changes``.

    ``changes`` are ``(beat, bpm, ramp)`` in beat order: from ``beat`` the
    tempo is ``bpm``; with ``ramp`` it moves linearly (in beats) to the next
    change's bpm, else it holds there. A linear ramp from ``b0`` at tempo
    ``q0`` to ``b1`` at ``q1`` lasts ``60 (b1 - b0) ln(q1 / q0) / (q1 - q0)``
    seconds, the integral of ``60 / q(b)``.
    """

    def __init__(self, base_bpm: float, changes: list[tuple[float, float, bool]] | None = None) -> None:
        self.base_bpm = base_bpm
        points = [(0.0, base_bpm, False)]
        for beat, bpm, ramp in changes or ():
            if beat <= points[-1][0] and beat <= 0.0:
                points = [(0.0, bpm, ramp)]
            elif beat > points[-1][0]:
                points.append((beat, bpm, ramp))
            else:
                points[-1] = (points[-1][0], bpm, ramp)
        self._beats = [point[0] for point in points]
        self._points = points
        self._seconds = [0.0]
        for index in range(1, len(points)):
            self._seconds.append(self._seconds[-1] + self._span(index - 1, points[index][0]))

    def seconds(self, beat: float) -> float:
        """The time in seconds of the position ``beat`` (beats may be negative: before 0 the first tempo holds)."""
        if beat <= 0.0:
            return beat * 60.0 / self._points[0][1]
        index = bisect.bisect_right(self._beats, beat) - 1
        return self._seconds[index] + self._span(index, beat)

    def _span(self, index: int, beat: float) -> float:
        """Seconds from change ``index`` to ``beat``, within its segment."""
        start, bpm, ramp = self._points[index]
        length = beat - start
        if not ramp or index + 1 >= len(self._points):
            return 60.0 * length / bpm
        end, end_bpm, _ = self._points[index + 1]
        slope = (end_bpm - bpm) / (end - start)
        if abs(slope) < 1e-12:
            return 60.0 * length / bpm
        return 60.0 / slope * math.log((bpm + slope * length) / bpm)
