"""Test and calibration signals."""

from __future__ import annotations

import numpy as np

from .units import db_to_linear
from .validate import check_frequency, check_number, check_sample_rate


def sine_tone(
    freq_hz: float,
    duration_s: float,
    sample_rate: float,
    level_dbfs: float = -20.0,
    channels: int = 2,
    phase_deg: float = 0.0,
) -> np.ndarray:
    """A sine tone of ``level_dbfs`` peak per channel, shaped (frames, channels), float64.

    A 1 kHz stereo tone at -23 dBFS is EBU Tech 3341's reference: it reads
    -23.0 LUFS.
    """
    sample_rate = check_sample_rate(sample_rate)
    check_frequency("freq_hz", freq_hz, sample_rate)
    duration_s = check_number("duration_s", duration_s, exclusive_minimum=0.0)
    check_number("level_dbfs", level_dbfs, maximum=6.0)
    frames = int(round(duration_s * sample_rate))
    t = np.arange(frames) / sample_rate
    wave = db_to_linear(level_dbfs) * np.sin(2 * np.pi * freq_hz * t + np.deg2rad(phase_deg))
    return np.repeat(wave[:, None], int(channels), axis=1)
