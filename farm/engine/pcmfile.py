"""PCM files written in place: one header made first, then many tasks each writing its own frames at once.

libsndfile writes the header of a WAV or AIFF file for the whole length (it
seeks to the last frame; the frames before read as silence until written),
and the sample data then lies in one block at the end of the file, frames in
order, channels interleaved: little-endian in WAV, big-endian in AIFF. A
task packs its integer samples the same way and writes them at their frame's
byte offset, so no single task has to write the whole file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile

from .diskspace import writing_into

FORMATS = ("wav", "aiff")
BIT_DEPTHS = (16, 24)


def supports(file_format: str, bit_depth: int | str) -> bool:
    """Whether a file of ``file_format`` (``"wav"``, ...) and ``bit_depth`` can be written in place: 16 or 24-bit WAV or AIFF."""
    return file_format in FORMATS and str(bit_depth) in {str(depth) for depth in BIT_DEPTHS}


def create(path: str | os.PathLike, file_format: str, bit_depth: int | str, sample_rate: int, channels: int, frames: int) -> int:
    """Make ``path`` with the header for ``frames`` frames; return the byte offset of frame 0's data."""
    subtype = f"PCM_{bit_depth}"
    with writing_into(Path(path).parent), soundfile.SoundFile(path, "w", sample_rate, channels, subtype=subtype, format=file_format.upper()) as handle:
        if frames:
            handle.seek(frames - 1)
            handle.write(np.zeros((1, channels), dtype=np.int32))
    return os.path.getsize(path) - frames * channels * int(bit_depth) // 8


def write(path: str | os.PathLike, file_format: str, bit_depth: int | str, data_offset: int, start_frame: int, samples: np.ndarray) -> None:
    """Write int32 ``samples`` (frames, channels), the bit depth's steps in their top bits, from ``start_frame`` on."""
    width = int(bit_depth) // 8
    big_endian = file_format == "aiff"
    as_bytes = samples.astype(">i4" if big_endian else "<i4").view(np.uint8).reshape(samples.shape[0], samples.shape[1], 4)
    kept = as_bytes[:, :, :width] if big_endian else as_bytes[:, :, 4 - width :]
    with writing_into(Path(path).parent), open(path, "r+b") as handle:
        handle.seek(data_offset + start_frame * samples.shape[1] * width)
        handle.write(np.ascontiguousarray(kept).tobytes())
