"""Loudness report of an audio file, read in blocks so its length does not matter."""

from __future__ import annotations

import os

import soundfile

from dsp import io as audio_io
from dsp.errors import AudioFileError
from dsp.loudness import LoudnessMeter, LoudnessReport

BLOCK_FRAMES = 1 << 18


def analyze_file(path: str | os.PathLike, true_peak_oversampling: int = 4) -> LoudnessReport:
    """Measure ``path`` per ITU-R BS.1770-4 / EBU R128; see :mod:`dsp.loudness`."""
    facts = audio_io.info(path)
    meter = LoudnessMeter(facts.sample_rate, facts.channels, true_peak_oversampling)
    try:
        for block in soundfile.blocks(facts.path, blocksize=BLOCK_FRAMES, dtype="float64", always_2d=True):
            meter.process(block)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{facts.path}: read failed ({exc})") from exc
    return meter.report()
