"""A one-line progress bar for a terminal: percentage, ETA and realtime factor."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """Redraws one line on ``stream`` each time it is called with (fraction, audio seconds)."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.started = time.monotonic()

    def __call__(self, fraction: float, audio_s: float) -> None:
        elapsed = time.monotonic() - self.started
        filled = int(round(fraction * self.width))
        eta = f"{elapsed * (1 - fraction) / fraction:5.0f} s" if fraction > 0 else "    ? s"
        speed = f"{audio_s / elapsed:6.1f}x realtime" if elapsed > 0 and audio_s > 0 else ""
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {fraction * 100:5.1f}%  ETA {eta}  {speed}")
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        self.stream.write("\n")
        self.stream.flush()
