"""A listenable copy of the mix bus, kept beside the deliverables: 24-bit FLAC, written from the spilled mix.

The mix is what the loudness stage starts from, so hearing it beside the
master (at the master's loudness) shows what mastering did. It is written
by the process that runs the render, from the mix's file in the work
folder, in a thread of its own while the first master files are delivered,
and is no deliverable: the report names it under ``mix``. Each sample is
rounded to the nearest 24-bit step, with no dither (so the file depends on
the mix alone, which is bit-identical however the render was chunked), and
clipped at full scale: a mix bus may run over 0 dBFS, which a fixed-point
file cannot hold; the report counts the clipped samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsp import io as audio_io

from .diskspace import writing_into
from .spill import SpilledSignal

MIX_COPY_NAME = "mix-bus.flac"
"""The copy's file name, unless a deliverable has it (then a number is added)."""
MIX_COPY_BIT_DEPTH = 24
MIX_CHANNELS = 2
"""The mix bus is stereo."""
FLAC_COMPRESSION_LEVEL = 0.0
"""libsndfile's fastest FLAC setting: a quarter less encoding time than its default for about 3 % more bytes."""
READ_FRAMES = 1 << 18
"""How many frames of the mix are read, converted and written at a time."""
_STEPS = 2 ** (MIX_COPY_BIT_DEPTH - 1)


def mix_copy_name(deliverable_paths: list[str]) -> str:
    """:data:`MIX_COPY_NAME`, or ``mix-bus-2.flac``, ... : the first no deliverable is written to."""
    taken = set(deliverable_paths)
    stem, suffix = MIX_COPY_NAME.rsplit(".", 1)
    return next(name for name in [MIX_COPY_NAME, *(f"{stem}-{count}.{suffix}" for count in range(2, len(taken) + 3))] if name not in taken)


def write_mix_copy(mix: SpilledSignal, path: Path, sample_rate: int, frames: int) -> dict:
    """Write frames ``[0, frames)`` of the spilled ``mix`` to ``path`` as 24-bit FLAC; returns what the report says of it.

    Returns ``path`` (its name), ``format``, ``bit_depth``, ``sample_rate``
    (Hz), ``bytes`` and ``clipped_samples`` (samples beyond full scale, set to it).
    """
    clipped = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with writing_into(path.parent), audio_io.open_for_writing(path, sample_rate, MIX_CHANNELS, "flac", "PCM_24", FLAC_COMPRESSION_LEVEL) as handle:
        for start in range(0, frames, READ_FRAMES):
            steps = np.round(mix.read(start, min(start + READ_FRAMES, frames), MIX_CHANNELS) * _STEPS)
            over = (steps > _STEPS - 1) | (steps < -_STEPS)
            clipped += int(np.count_nonzero(over))
            handle.write(np.left_shift(np.clip(steps, -_STEPS, _STEPS - 1).astype(np.int32), 32 - MIX_COPY_BIT_DEPTH))
    return {
        "path": path.name,
        "format": "flac",
        "bit_depth": MIX_COPY_BIT_DEPTH,
        "sample_rate": sample_rate,
        "bytes": path.stat().st_size,
        "clipped_samples": clipped,
    }
