"""Writing a deliverable's file from its chunks, in order, where the render's outputs are gathered.

The chunks (:func:`farm.engine.tasks.deliver_chunk`) come back as results,
so the files are written by the process that runs the render, into its own
output folder: no node needs to see another's disk.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dsp import codecs
from dsp import io as audio_io
from dsp.errors import AudioFileError
from dsp.loudness import LoudnessMeter, LoudnessPartial, LoudnessReport
from dsp.tags import write_tags
from farm.errors import RenderError

from .delivery import DeliverablePlan
from .diskspace import writing_into
from .tagging import broadcast_extension

FEED_POLL_S = 0.1
"""How often a waiting feed looks whether the other side stopped."""


class _End:
    """What closes a feed."""


class ChunkFeed:
    """The chunks of one deliverable, handed from the thread that fetches them to the thread that writes the file, a few at a time.

    :meth:`put` waits while the queue is full, and raises the writer's error
    if the writer stopped; iterating yields the chunks until :meth:`close`,
    or raises RenderError once :meth:`abort` is called.
    """

    def __init__(self, size: int) -> None:
        self._queue: queue.Queue = queue.Queue(size)
        self._aborted = threading.Event()

    def put(self, chunk: tuple, writer: concurrent.futures.Future) -> None:
        """Hand ``chunk`` to the writer (``writer``: the future of its write)."""
        while True:
            try:
                self._queue.put(chunk, timeout=FEED_POLL_S)
                return
            except queue.Full:
                if writer.done():
                    writer.result()
                    raise RenderError("the file's writer stopped before its last chunk") from None

    def close(self, writer: concurrent.futures.Future) -> None:
        """Say the last chunk was handed over."""
        self.put(_End, writer)

    def abort(self) -> None:
        """Stop the writer: the render failed elsewhere."""
        self._aborted.set()

    def __iter__(self):
        while True:
            try:
                chunk = self._queue.get(timeout=FEED_POLL_S)
            except queue.Empty:
                if self._aborted.is_set():
                    raise RenderError("the render stopped before the file was written") from None
                continue
            if chunk is _End:
                return
            yield chunk


def write_deliverable(deliverable: DeliverablePlan, target: Path, chunks: Iterable[tuple[np.ndarray, LoudnessPartial | None]], trim_db: float) -> dict:
    """Write ``deliverable`` at ``target`` from its ``chunks``, each (samples, loudness partial), in order; return the file's facts.

    Shaped dither is applied here, in order, and the samples metered as they
    are written; a lossy file is decoded again once written and metered as a
    player would hear it; otherwise the chunks' partials give the loudness.
    The facts: path, format, bit depth or bitrate, rate, dither, trim,
    frames, duration, bytes, and the loudness of what the file holds (true
    peak as finely as the deliverable asks), ``measured_from`` saying
    whether it was read from the samples written or the decoded file.

    Raises
    ------
    farm.errors.RenderError
        If the chunks do not add up to the deliverable's length, its disk is
        full, or its format cannot be encoded or decoded here.
    """
    quantiser, shaped = deliverable.quantiser, deliverable.shaped
    q_state = quantiser.init_state(2) if shaped else None
    meter = LoudnessMeter(deliverable.sample_rate, 2, deliverable.true_peak_oversampling) if shaped else None
    target.parent.mkdir(parents=True, exist_ok=True)
    frames, partials = 0, []
    try:
        with writing_into(target.parent), _open(deliverable, target) as handle:
            for block, partial in chunks:
                partials.append(partial)
                if shaped:
                    block, q_state = quantiser.process(block, q_state)
                    meter.process(block)
                handle.write(block)
                frames += block.shape[0]
        if frames != deliverable.frames:
            raise RenderError(f"{deliverable.path}: the chunks made {frames} frames of the {deliverable.frames} the deliverable has")
        if deliverable.lossy:
            loudness = _measure_decoded(deliverable, target)
        else:
            loudness = meter.report() if shaped else LoudnessPartial.merge(partials).report()
        bext = broadcast_extension(deliverable.tags, loudness, deliverable.sample_rate, deliverable.bit_depth) if deliverable.format == "wav" else None
        with writing_into(target.parent):
            write_tags(target, deliverable.format, deliverable.tags, bext)
    except AudioFileError as exc:
        raise RenderError(str(exc).replace(str(target), deliverable.path, 1)) from exc
    bit_depth = deliverable.bit_depth
    facts = {
        "path": deliverable.path,
        "format": deliverable.format,
        "bit_depth": bit_depth if bit_depth in ("32f", None) else int(bit_depth),
        "sample_rate": deliverable.sample_rate,
        "dither": deliverable.dither,
        "trim_db": trim_db,
        "frames": frames,
        "duration_s": frames / deliverable.sample_rate,
        "bytes": os.path.getsize(target),
        "loudness": loudness.to_dict(),
        "measured_from": "decoded" if deliverable.lossy else "samples",
    }
    if deliverable.lossy:
        facts["bitrate_kbps"] = deliverable.bitrate_kbps
    return facts


def _open(deliverable: DeliverablePlan, target: Path):
    """The file of ``deliverable`` at ``target``, open for writing its samples."""
    if deliverable.lossy:
        return codecs.open_lossy(target, deliverable.format, deliverable.sample_rate, deliverable.bitrate_kbps, deliverable.serial)
    return audio_io.open_for_writing(target, deliverable.sample_rate, 2, deliverable.format, deliverable.subtype)


def _measure_decoded(deliverable: DeliverablePlan, target: Path) -> LoudnessReport:
    """The loudness and true peak of the lossy file at ``target`` as it decodes."""
    sample_rate, blocks = codecs.decoded_blocks(target, deliverable.format)
    meter = LoudnessMeter(sample_rate, 2, deliverable.true_peak_oversampling)
    for block in blocks:
        meter.process(block)
    return meter.report()
