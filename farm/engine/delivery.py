"""The deliverables' plans: each file's rate, chunk grid, length and quantiser, made from the master or from one strip (a stem)."""

from __future__ import annotations

import dataclasses
import hashlib
import math

from dsp.codecs import DEFAULT_BITRATE_KBPS, default_sample_rate
from dsp.dither import Quantiser
from dsp.io import resample_margin_frames, resampled_frames
from dsp.tags import Tags
from farm.session import Output, stem_path

from .mastering import MASTER_TRUE_PEAK_OVERSAMPLING
from .preroll import meter_preroll_frames

STEM_TRUE_PEAK_OVERSAMPLING = 4
"""A stem's meter reads true peak as BS.1770-4 does, 4x."""

SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
"""libsndfile's subtype for each bit depth."""


@dataclasses.dataclass(frozen=True)
class DeliverablePlan:
    """How one output is made from the master.

    Attributes
    ----------
    index, path, format
        Its place in ``session.outputs``, its file name in the output folder,
        and its format: ``"wav"``, ``"aiff"``, ``"flac"``, or a lossy one
        (:data:`dsp.codecs.LOSSY_FORMATS`).
    bit_depth
        ``"16"``, ``"24"`` or ``"32f"`` (32-bit float); None for a lossy format.
    sample_rate, dither
        Its rate in Hz (the render rate unless the output names one; for a
        lossy format, one it takes: :func:`dsp.codecs.default_sample_rate`)
        and ``"none"``, ``"tpdf"`` or ``"shaped"`` (``"none"`` for 32-bit
        float and lossy formats, which the encoder takes as float).
    grid_frames
        Master frames per delivery chunk (:func:`delivery_grid`).
    margin_frames
        Master frames each side of a chunk that the resampler reads
        (:func:`resample_margin_frames`; 0 at the render rate).
    meter_frames
        Master frames before a chunk that its meter reads first, in whole
        resampling periods (:func:`farm.engine.preroll.meter_preroll_frames`
        at the output's rate); 0 for a lossy file, measured once decoded.
    frames
        Frames of the file: the timeline's at its rate.
    quantiser
        The dither and quantiser (None for 32-bit float), seeded from the
        session's name and the file's path so a render is reproducible and
        no two files share their dither.
    strip
        The strip whose stem the file is (its ``{name}`` in the output's
        path); None for the master.
    true_peak_oversampling
        How finely its meter reads true peak: the master's files 8x, as the
        ceiling is held; a stem at BS.1770-4's 4x (it has no ceiling, and the
        8x meter would cost a stem more than rendering it).
    bitrate_kbps
        A lossy format's bitrate in kbit/s; None for a lossless one.
    serial
        The Ogg stream's serial number of an Opus file, from the session's
        name and the file's path like the dither's seed.
    tags
        What the file says about its song (:mod:`farm.engine.tagging`).
    """

    index: int
    path: str
    format: str
    bit_depth: str | None
    sample_rate: int
    dither: str
    grid_frames: int
    margin_frames: int
    meter_frames: int
    frames: int
    quantiser: Quantiser | None
    strip: str | None = None
    true_peak_oversampling: int = MASTER_TRUE_PEAK_OVERSAMPLING
    bitrate_kbps: int | None = None
    serial: int = 0
    tags: Tags = Tags()

    @property
    def lossy(self) -> bool:
        """Whether the file is encoded lossily, and so measured as it decodes."""
        return self.bitrate_kbps is not None

    @property
    def shaped(self) -> bool:
        """Whether its dither is noise-shaped, whose error feedback runs through the samples in order."""
        return self.quantiser is not None and self.quantiser.dither == "shaped"

    @property
    def subtype(self) -> str:
        """libsndfile's subtype for its bit depth."""
        return SUBTYPES[self.bit_depth]


def plan_deliverable(
    index: int,
    output: Output,
    session_name: str,
    sample_rate: int,
    timeline_frames: int,
    chunk_frames: int,
    stem: str | None = None,
    tags: Tags = Tags(),
) -> DeliverablePlan:
    """The plan of the ``index``-th file of a session rendered at ``sample_rate`` Hz: ``output``, or its stem of the strip ``stem``, tagged with ``tags``."""
    path = output.path if stem is None else stem_path(output.path, stem)
    oversampling = MASTER_TRUE_PEAK_OVERSAMPLING if stem is None else STEM_TRUE_PEAK_OVERSAMPLING
    if output.lossy:
        out_rate = output.sample_rate or default_sample_rate(output.format, sample_rate)
        bit_depth, quantiser = None, None
        bitrate_kbps = output.bitrate_kbps or DEFAULT_BITRATE_KBPS[output.format]
    else:
        out_rate = output.sample_rate or sample_rate
        bit_depth, bitrate_kbps = str(output.bit_depth), None
        quantiser = None if bit_depth == "32f" else Quantiser(int(bit_depth), output.dither, dither_seed(session_name, path))
    return DeliverablePlan(
        index=index,
        path=path,
        format=output.format,
        bit_depth=bit_depth,
        sample_rate=out_rate,
        dither=output.dither if quantiser else "none",
        grid_frames=delivery_grid(sample_rate, out_rate, chunk_frames),
        margin_frames=resample_margin_frames(sample_rate, out_rate),
        meter_frames=0 if output.lossy else delivery_meter_frames(sample_rate, out_rate, oversampling),
        frames=resampled_frames(timeline_frames, sample_rate, out_rate),
        quantiser=quantiser,
        strip=stem,
        true_peak_oversampling=oversampling,
        bitrate_kbps=bitrate_kbps,
        serial=dither_seed(session_name, path) & 0xFFFFFFFF,
        tags=tags,
    )


def delivery_meter_frames(sample_rate: int, out_rate: int, oversampling: int = MASTER_TRUE_PEAK_OVERSAMPLING) -> int:
    """Frames a deliverable's meter (true peak ``oversampling`` times) reads before a chunk: its pre-roll at ``out_rate``, in whole resampling periods."""
    period = sample_rate // math.gcd(sample_rate, out_rate)
    return math.ceil(meter_preroll_frames(out_rate, oversampling) * sample_rate / out_rate / period) * period


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
