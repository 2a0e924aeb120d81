"""The deliverables' plans: each output's rate, chunk grid, length, quantiser and how its file is written."""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

from dsp.dither import Quantiser
from dsp.io import resampled_frames
from farm.session import Output

from . import pcmfile
from .mastering import MASTER_TRUE_PEAK_OVERSAMPLING
from .preroll import meter_preroll_frames

RESAMPLE_MARGIN_S = 0.05
"""Input each side of a delivery chunk that the resampler reads, in seconds,
times the decimation ratio when downsampling (soxr's VHQ filter was measured
to reach about 5 ms, and 20 ms decimating 48 kHz to 8 kHz)."""

SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
"""libsndfile's subtype for each bit depth."""


@dataclasses.dataclass(frozen=True)
class DeliverablePlan:
    """How one output is made from the master.

    Attributes
    ----------
    index, path, format
        Its place in ``session.outputs``, its file name in the output folder,
        and ``"wav"``, ``"aiff"`` or ``"flac"``.
    bit_depth
        ``"16"``, ``"24"`` or ``"32f"`` (32-bit float).
    sample_rate, dither
        Its rate in Hz (the render rate unless the output names one) and
        ``"none"``, ``"tpdf"`` or ``"shaped"`` (ignored for 32-bit float).
    grid_frames
        Master frames per delivery chunk (:func:`delivery_grid`).
    margin_frames
        Master frames each side of a chunk that the resampler reads
        (:func:`resample_margin_frames`; 0 at the render rate).
    meter_frames
        Master frames before a chunk that its meter reads first, in whole
        resampling periods (:func:`farm.engine.preroll.meter_preroll_frames`
        at the output's rate).
    frames
        Frames of the file: the timeline's at its rate.
    in_place
        Whether chunks write straight into the file (:mod:`farm.engine.pcmfile`);
        otherwise one task writes it from the chunks kept in scratch.
    quantiser
        The dither and quantiser (None for 32-bit float), seeded from the
        session's and the output's names so a render is reproducible.
    """

    index: int
    path: str
    format: str
    bit_depth: str
    sample_rate: int
    dither: str
    grid_frames: int
    margin_frames: int
    meter_frames: int
    frames: int
    in_place: bool
    quantiser: Quantiser | None

    @property
    def shaped(self) -> bool:
        """Whether its dither is noise-shaped, whose error feedback runs through the samples in order."""
        return self.quantiser is not None and self.quantiser.dither == "shaped"

    @property
    def subtype(self) -> str:
        """libsndfile's subtype for its bit depth."""
        return SUBTYPES[self.bit_depth]

    @property
    def scratch_dtype(self) -> np.dtype:
        """How its chunks wait in scratch: as written (int32 steps, float32), or float64 before shaped dither."""
        if self.bit_depth == "32f":
            return np.dtype(np.float32)
        return np.dtype(np.float64 if self.shaped else np.int32)


def plan_deliverable(index: int, output: Output, session_name: str, sample_rate: int, timeline_frames: int, chunk_frames: int) -> DeliverablePlan:
    """The plan of ``output``, the ``index``-th of a session rendered at ``sample_rate`` Hz."""
    out_rate = output.sample_rate or sample_rate
    bit_depth = str(output.bit_depth)
    quantiser = None if bit_depth == "32f" else Quantiser(int(bit_depth), output.dither, dither_seed(session_name, output.path))
    return DeliverablePlan(
        index=index,
        path=output.path,
        format=output.format,
        bit_depth=bit_depth,
        sample_rate=out_rate,
        dither=output.dither if quantiser else "none",
        grid_frames=delivery_grid(sample_rate, out_rate, chunk_frames),
        margin_frames=resample_margin_frames(sample_rate, out_rate),
        meter_frames=delivery_meter_frames(sample_rate, out_rate),
        frames=resampled_frames(timeline_frames, sample_rate, out_rate),
        in_place=pcmfile.supports(output.format, bit_depth) and output.dither != "shaped",
        quantiser=quantiser,
    )


def delivery_meter_frames(sample_rate: int, out_rate: int) -> int:
    """Master frames a deliverable's meter reads before a chunk: its pre-roll at ``out_rate``, in whole resampling periods."""
    period = sample_rate // math.gcd(sample_rate, out_rate)
    return math.ceil(meter_preroll_frames(out_rate, MASTER_TRUE_PEAK_OVERSAMPLING) * sample_rate / out_rate / period) * period


def dither_seed(session_name: str, output_path: str) -> int:
    """A stable seed from the session and the output, so re-renders are bit-identical."""
    digest = hashlib.sha256(f"{session_name}\0{output_path}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def delivery_grid(sample_rate: int, out_rate: int, chunk_frames: int) -> int:
    """Frames (at ``sample_rate``) per delivery chunk: ``chunk_frames`` rounded to whole resampling periods.

    A chunk that starts on a whole period starts on a whole output frame, so
    chunks resampled apart line up with the one-pass resampling.
    """
    period = sample_rate // math.gcd(sample_rate, out_rate)
    return max(1, round(chunk_frames / period)) * period


def resample_margin_frames(sample_rate: int, out_rate: int) -> int:
    """Input frames each side of a chunk that soxr's VHQ filter reaches, in whole resampling periods."""
    if out_rate == sample_rate:
        return 0
    period = sample_rate // math.gcd(sample_rate, out_rate)
    frames = RESAMPLE_MARGIN_S * sample_rate * max(1.0, sample_rate / out_rate)
    return math.ceil(frames / period) * period
