"""The kinds of task a render is made of, each a plain function.

The renderer hands these functions to an executor (``executor.submit(strip_chunk,
...)``), so every call site names the task it runs. Every task returns
its results followed by a small ``meta`` dict (``kind``, ``node``,
``seconds``, ``started_at`` in Unix seconds, and ``strip`` for a strip's
chunk) so the renderer can report where work ran. Tasks read their own audio
from storage and write their own results there; what travels between them is
one chunk of audio or a strip's state at a time.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path

import numpy as np
import soundfile
import soxr

from dsp import io as audio_io
from dsp.dither import Quantiser
from dsp.fades import fade_gain
from dsp.limiter import reset_gain_reduction
from dsp.loudness import LoudnessMeter, LoudnessPartial
from dsp.units import db_to_linear
from farm.errors import RenderError
from farm.storage import stems

from . import pcmfile
from .diskspace import writing_into
from .plan import (
    MIX_TRUE_PEAK_OVERSAMPLING,
    RenderPlan,
    first_frame,
    meter_preroll_frames,
)
from .scratch import ScratchSignal
from .strip import (
    destinations,
    initial_state,
    join_feeds,
    render_strip_chunk,
    run_effects,
    sum_feeds,
)

DELIVERY_BLOCK_FRAMES = 1 << 18
RESAMPLE_MARGIN_S = 0.05
"""Input each side of a delivery chunk that the resampler reads, in seconds,
times the decimation ratio when downsampling (soxr's VHQ filter was measured
to reach about 5 ms, and 20 ms decimating 48 kHz to 8 kHz)."""
MASTER_TRUE_PEAK_OVERSAMPLING = 8
"""The loudness stage and the deliverables are metered at 8x, closer than BS.1770's 4x."""


def _node() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return "local"


def _meta(kind: str, started: float, **details) -> dict:
    seconds = time.perf_counter() - started
    return {"kind": kind, "node": _node(), "seconds": seconds, "started_at": time.time() - seconds, **details}


def resample_stem(source: str, target: str, sample_rate: int) -> tuple[int, dict]:
    """Resample a whole stem to ``sample_rate`` with soxr VHQ into a float32 WAV at ``target``; returns its frames."""
    started = time.perf_counter()
    facts = stems.info(source)
    audio, rate = stems.read_frames(source, 0, facts.frames), facts.sample_rate
    Path(target).parent.mkdir(exist_ok=True)
    resampled = audio_io.resample(audio, rate, sample_rate, "VHQ")
    with writing_into(Path(target).parent):
        audio_io.write(target, resampled, sample_rate, bit_depth="32f")
    return resampled.shape[0], _meta("resample", started)


def strip_chunk(plan: RenderPlan, name: str, start: int, stop: int, state: dict | None, *feed_blocks: np.ndarray):
    """Frames ``[start, stop)`` of a track or bus: one block per destination, the new state, meta.

    A time-parallel strip starts from silence its pre-roll early and returns
    no state; a bus among them gets its feeds' blocks of the previous chunk
    before this chunk's (see :func:`farm.strip.join_feeds`).
    """
    started = time.perf_counter()
    strip = plan.strip(name)
    begin = strip.first_frame(start)
    state = initial_state(strip, plan.sample_rate) if state is None else state
    feeds = join_feeds(strip, list(feed_blocks), begin, start)
    outputs, state = render_strip_chunk(strip, begin, stop, state, feeds, plan.sample_rate)
    carried = None if strip.time_parallel else state
    return (*[outputs[target][start - begin :] for target in destinations(strip)], carried, _meta(strip.kind, started, strip=name))


def mix_chunk(plan: RenderPlan, start: int, stop: int, state: dict | None, workdir: str, *feed_blocks: np.ndarray):
    """Frames ``[start, stop)`` of the master's sum and chain, written to the mix store and metered.

    Returns the loudness partial of the aligned frames, the new state (None
    when the master is time-parallel) and meta.
    """
    started = time.perf_counter()
    strip = plan.strip("master")
    rate, latency = plan.sample_rate, plan.mix_latency
    begin = strip.first_frame(start)
    if state is None:
        state = initial_state(strip, rate)
        state["meter"] = None
    feeds = join_feeds(strip, list(feed_blocks), begin, start)
    audio, feed_states = sum_feeds(strip, feeds, state, rate, stop - begin)
    audio, fx_states = run_effects(strip, audio, state)
    first, lo, metered = _on_timeline(audio, begin, start, stop, latency, plan.timeline_frames)
    ScratchSignal(Path(workdir) / "mix").write(lo, metered[lo - first :])
    meter = LoudnessMeter(rate, 2, MIX_TRUE_PEAK_OVERSAMPLING, start_frame=lo, preroll_frames=lo - first, state=state["meter"])
    meter.process(metered)
    new_state = None if strip.time_parallel else {"fx": fx_states, "feeds": feed_states, "meter": meter.state()}
    return meter.partial(), new_state, _meta("mix", started, strip="master")


def master_chunk(plan: RenderPlan, settings: dict, start: int, stop: int, state: dict | None, workdir: str):
    """Frames ``[start, stop)`` of the loudness stage: gain, true-peak limiter, fades.

    ``settings`` holds ``gain_db``, ``limiter`` (a Limiter or None),
    ``fade_in_frames``, ``fade_out_frames`` and ``preroll_frames`` (None to
    carry ``state`` from the previous chunk; else the chunk starts from
    silence that many frames early). The limiter's latency is removed so the
    master lines up with the timeline. Returns the loudness partial of the
    written frames, the new state (the limiter's largest gain reduction is
    counted from ``start`` on) and meta.
    """
    started = time.perf_counter()
    rate, limiter, preroll = plan.sample_rate, settings["limiter"], settings["preroll_frames"]
    latency = limiter.latency_samples if limiter else 0
    begin = first_frame(start, preroll)
    if state is None:
        state = {"limiter": limiter.init_state(2) if limiter else None, "meter": None}
    audio = ScratchSignal(Path(workdir) / "mix").read(begin, stop) * db_to_linear(settings["gain_db"])
    limiter_state = state["limiter"]
    if limiter:
        warm, limiter_state = limiter.process(audio[: start - begin], limiter_state)
        limiter_state = reset_gain_reduction(limiter_state)
        limited, limiter_state = limiter.process(audio[start - begin :], limiter_state)
        audio = np.concatenate([warm, limited])
    first, lo, metered = _on_timeline(audio, begin, start, stop, latency, plan.timeline_frames)
    metered = metered * fade_gain(first, metered.shape[0], plan.timeline_frames, settings["fade_in_frames"], settings["fade_out_frames"])[:, None]
    ScratchSignal(Path(workdir) / settings["store"]).write(lo, metered[lo - first :])
    meter = LoudnessMeter(rate, 2, MASTER_TRUE_PEAK_OVERSAMPLING, start_frame=lo, preroll_frames=lo - first, state=state["meter"])
    meter.process(metered)
    new_state = {"limiter": limiter_state, "meter": None if preroll is not None else meter.state()}
    return meter.partial(), new_state, _meta("master", started)


def _on_timeline(audio: np.ndarray, begin: int, start: int, stop: int, latency: int, timeline_frames: int):
    """The part of ``audio`` (frames ``[begin, stop)``, ``latency`` late) that lies on the timeline.

    Returns ``(first, lo, metered)``: ``metered`` covers timeline frames
    ``[first, ...)``, pre-roll included; the chunk's own frames start at ``lo``.
    """
    lo, hi = max(start - latency, 0), min(stop - latency, timeline_frames)
    first = max(begin - latency, 0)
    return first, lo, audio[first - (begin - latency) : max(lo, hi) - (begin - latency)]


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


def deliver_chunk(
    plan: RenderPlan, output: dict, trim_db: float, workdir: str, store: str, index: int, start: int, stop: int, target: str, data_offset: int | None
):
    """Frames ``[start, stop)`` of the master (on :func:`delivery_grid`) as deliverable ``index``: resampled, trimmed, quantised.

    The chunk is resampled with soxr VHQ from the master with
    :func:`resample_margin_frames` each side, which matches resampling the
    whole master to within 1e-15. It is quantised with TPDF dither drawn for
    its frames' positions (:class:`dsp.dither.Quantiser`), written to the
    ``deliver-<index>`` store at the output rate, or straight into the file
    at ``target`` when it is made for writing in place (``data_offset``, see
    :mod:`farm.pcmfile`), and metered from the values written (8x true peak),
    with a meter pre-roll recomputed the same way.
    Shaped dither feeds its error back from sample to sample, so such a
    deliverable's chunks are written unquantised and :func:`encode` quantises
    and meters them in order. Returns the loudness partial (None for shaped
    dither) and meta.
    """
    started = time.perf_counter()
    rate = plan.sample_rate
    out_rate = output["sample_rate"] or rate
    period = rate // math.gcd(rate, out_rate)
    meter_frames = math.ceil(meter_preroll_frames(out_rate, MASTER_TRUE_PEAK_OVERSAMPLING) * rate / out_rate / period) * period
    margin = resample_margin_frames(rate, out_rate)
    lo = max(start - meter_frames - margin, 0)
    hi = min(stop + margin, plan.timeline_frames) if margin else stop
    block = ScratchSignal(Path(workdir) / store).read(lo, hi)
    if out_rate != rate:
        block = soxr.resample(block, rate, out_rate, quality="VHQ")
    out_lo, out_start, out_stop = (frame * out_rate // rate for frame in (lo, start, stop))
    if stop >= plan.timeline_frames:
        out_stop = out_lo + block.shape[0]
    metered_from = max(start - meter_frames, 0) * out_rate // rate
    block = block[metered_from - out_lo : out_stop - out_lo] * db_to_linear(trim_db)
    quantiser = _quantiser(plan, output)
    shaped = quantiser is not None and quantiser.dither == "shaped"
    if quantiser is None:
        block = block.astype(np.float32).astype(np.float64)
    elif not shaped:
        block, _ = quantiser.process(block, {**quantiser.init_state(2), "frame": np.array(metered_from, dtype=np.int64)})
    samples = _to_store(block[out_start - metered_from :], output)
    if data_offset is None:
        _delivery_signal(workdir, index, output).write(out_start, samples)
    else:
        pcmfile.write(target, output, data_offset, out_start, samples)
    if shaped:
        return None, _meta("deliver", started)
    meter = LoudnessMeter(out_rate, 2, MASTER_TRUE_PEAK_OVERSAMPLING, start_frame=out_start, preroll_frames=out_start - metered_from)
    meter.process(block)
    return meter.partial(), _meta("deliver", started)


def encode(plan: RenderPlan, output: dict, trim_db: float, workdir: str, index: int, target: str, *partials):
    """Finish deliverable ``index`` at ``target`` from its chunks (:func:`deliver_chunk`, one partial each, in order).

    A file written in place (:func:`in_place`) is already whole; any other is
    written here from the chunks' store, shaped dither applied in order and
    the result metered as it is written. Returns the file's facts (path,
    format, rate, bit depth, frames, bytes, and the loudness of the samples
    written, 8x true peak) and meta.
    """
    started = time.perf_counter()
    out_rate = output["sample_rate"] or plan.sample_rate
    quantiser = _quantiser(plan, output)
    if in_place(output):
        merged, frames = LoudnessPartial.merge(partials), soundfile.info(target).frames
        if merged.end_frame != frames:
            raise RenderError(f"{output['path']}: the chunks wrote {merged.end_frame} frames into a file made for {frames}")
        loudness = merged.report()
    else:
        loudness, frames = _write_from_store(plan, output, workdir, index, target, quantiser, partials)
    return {
        "path": output["path"],
        "format": output["format"],
        "bit_depth": output["bit_depth"],
        "sample_rate": out_rate,
        "dither": output["dither"] if quantiser else "none",
        "trim_db": trim_db,
        "frames": frames,
        "duration_s": frames / out_rate,
        "bytes": os.path.getsize(target),
        "loudness": loudness.to_dict(),
    }, _meta("encode", started)


def in_place(output: dict) -> bool:
    """Whether deliverable chunks write straight into the file (:mod:`farm.pcmfile`); not with shaped dither, which runs in order."""
    return pcmfile.supports(output) and output["dither"] != "shaped"


def deliverable_frames(frames: int, sample_rate: int, out_rate: int) -> int:
    """Frames of a deliverable made from ``frames`` at ``sample_rate``: soxr's count, ``frames * out_rate / sample_rate`` rounded half up."""
    return (2 * frames * out_rate + sample_rate) // (2 * sample_rate)


def _write_from_store(plan: RenderPlan, output: dict, workdir: str, index: int, target: str, quantiser: Quantiser | None, partials):
    """Write a deliverable from its chunks' store; returns (loudness report, frames)."""
    out_rate = output["sample_rate"] or plan.sample_rate
    source = _delivery_signal(workdir, index, output)
    frames = source.frames()
    shaped = quantiser is not None and quantiser.dither == "shaped"
    q_state = quantiser.init_state(2) if shaped else None
    meter = LoudnessMeter(out_rate, 2, MASTER_TRUE_PEAK_OVERSAMPLING) if shaped else None
    subtype = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}[str(output["bit_depth"])]
    _make_folder_in(Path(workdir), Path(target).parent)
    with writing_into(Path(target).parent), audio_io.open_for_writing(target, out_rate, 2, output["format"], subtype) as handle:
        for begin in range(0, frames, DELIVERY_BLOCK_FRAMES):
            block = source.read(begin, min(begin + DELIVERY_BLOCK_FRAMES, frames))
            if shaped:
                block, q_state = quantiser.process(block, q_state)
                meter.process(block)
            handle.write(block)
    return (meter.report() if shaped else LoudnessPartial.merge(partials).report()), frames


def _make_folder_in(workdir: Path, folder: Path) -> None:
    """Make ``folder`` and its parents below ``workdir``, which must exist (a finished render's is gone)."""
    current = workdir
    for part in folder.relative_to(workdir).parts:
        current = current / part
        current.mkdir(exist_ok=True)


def _delivery_signal(workdir: str, index: int, output: dict) -> ScratchSignal:
    """Where deliverable ``index``'s chunks wait to be written: the file's own samples as int32 or float32, float64 before shaped dither."""
    if str(output["bit_depth"]) == "32f":
        dtype = np.float32
    else:
        dtype = np.float64 if output["dither"] == "shaped" else np.int32
    return ScratchSignal(Path(workdir) / f"deliver-{index}", dtype=dtype)


def _to_store(block: np.ndarray, output: dict) -> np.ndarray:
    """Quantised float samples as the int32 that libsndfile writes exactly (the bit depth's steps in the top bits)."""
    bit_depth = str(output["bit_depth"])
    if bit_depth == "32f" or output["dither"] == "shaped":
        return block
    return np.round(block * 2.0 ** 31).astype(np.int32)


def _quantiser(plan: RenderPlan, output: dict) -> Quantiser | None:
    bit_depth = str(output["bit_depth"])
    if bit_depth == "32f":
        return None
    return Quantiser(int(bit_depth), output["dither"], dither_seed(plan.session_name, output["path"]))

