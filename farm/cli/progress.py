"""A one-line progress bar for a terminal: percentage, the stage at work, ETA and realtime factor."""

from __future__ import annotations

import time
from typing import TextIO

STAGE_CHARS = 28
"""The widest stage name shown; a longer one is cut short."""
MIN_RATE_S = 0.5
"""How long progress must have been moving before an ETA is given (seconds): the first reports say little of the rate."""


class ProgressBar:
    """Redraws one line on ``stream`` each time it is called with (fraction, audio seconds, stage).

    ``started`` is the :func:`time.perf_counter` reading the render's wall
    time counts from, so the realtime figure is the report's. The ETA
    counts from the first report (when the render's first stage began), not
    from ``started``: loading the session and starting a cluster take
    seconds that say nothing of how long the rest will take.
    """

    def __init__(self, stream: TextIO, started: float, width: int = 24) -> None:
        self.stream = stream
        self.started = started
        self.width = width
        self._first: tuple[float, float] | None = None
        self._drawn = 0

    def __call__(self, fraction: float, audio_s: float, stage: str) -> None:
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, fraction)
        first_s, first_fraction = self._first
        moving_s = now - first_s
        if fraction > first_fraction and moving_s >= MIN_RATE_S:
            eta = f"{moving_s * (1 - fraction) / (fraction - first_fraction):.0f} s"
        else:
            eta = "?"
        elapsed_s = now - self.started
        speed = f"{audio_s / elapsed_s:.1f}x realtime" if elapsed_s > 0 and audio_s > 0 else ""
        self._draw(fraction, f"{_cut(stage):<{STAGE_CHARS}}  ETA {eta:>5}  {speed}")

    def finish(self, wall_s: float, realtime_factor: float) -> None:
        """Draw the finished bar with the report's wall time and realtime factor, and end the line."""
        self._draw(1.0, f"{'done':<{STAGE_CHARS}}  in {wall_s:.1f} s  {realtime_factor:.1f}x realtime")
        self.close()

    def close(self) -> None:
        """End the line."""
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, fraction: float, text: str) -> None:
        filled = int(round(fraction * self.width))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}%  {text}".rstrip()
        self.stream.write(f"\r{line}{' ' * max(self._drawn - len(line), 0)}")
        self.stream.flush()
        self._drawn = len(line)


def _cut(stage: str) -> str:
    return stage if len(stage) <= STAGE_CHARS else stage[: STAGE_CHARS - 1] + "…"
