"""Writing a deliverable's file from its chunks, in order, where the render's outputs are gathered.

The chunks (:func:`farm.engine.tasks.deliver_chunk`) come back as results,
so the files are written by the process that runs the render, into its own
output folder: no node needs to see another's disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dsp import io as audio_io
from dsp.loudness import LoudnessMeter, LoudnessPartial
from farm.errors import RenderError

from .delivery import DeliverablePlan
from .diskspace import writing_into


def write_deliverable(deliverable: DeliverablePlan, target: Path, chunks: Iterable[tuple[np.ndarray, LoudnessPartial | None]], trim_db: float) -> dict:
    """Write ``deliverable`` at ``target`` from its ``chunks``, each (samples, loudness partial), in order; return the file's facts.

    Shaped dither is applied here, in order, and the samples metered as they
    are written; otherwise the chunks' partials give the loudness. The facts: path, format, bit depth, rate, dither, trim, frames,
    duration, bytes, and the loudness of the samples written (true peak as finely as the deliverable asks).

    Raises
    ------
    farm.errors.RenderError
        If the chunks do not add up to the deliverable's length, or its disk is full.
    """
    quantiser, shaped = deliverable.quantiser, deliverable.shaped
    q_state = quantiser.init_state(2) if shaped else None
    meter = LoudnessMeter(deliverable.sample_rate, 2, deliverable.true_peak_oversampling) if shaped else None
    target.parent.mkdir(parents=True, exist_ok=True)
    frames, partials = 0, []
    with (
        writing_into(target.parent),
        audio_io.open_for_writing(target, deliverable.sample_rate, 2, deliverable.format, deliverable.subtype) as handle,
    ):
        for block, partial in chunks:
            partials.append(partial)
            if shaped:
                block, q_state = quantiser.process(block, q_state)
                meter.process(block)
            handle.write(block)
            frames += block.shape[0]
    if frames != deliverable.frames:
        raise RenderError(f"{deliverable.path}: the chunks made {frames} frames of the {deliverable.frames} the deliverable has")
    loudness = meter.report() if shaped else LoudnessPartial.merge(partials).report()
    bit_depth = deliverable.bit_depth
    return {
        "path": deliverable.path,
        "format": deliverable.format,
        "bit_depth": bit_depth if bit_depth == "32f" else int(bit_depth),
        "sample_rate": deliverable.sample_rate,
        "dither": deliverable.dither,
        "trim_db": trim_db,
        "frames": frames,
        "duration_s": frames / deliverable.sample_rate,
        "bytes": os.path.getsize(target),
        "loudness": loudness.to_dict(),
    }
