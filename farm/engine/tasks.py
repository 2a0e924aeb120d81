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

import os
import time
from pathlib import Path

import numpy as np
import soundfile
import soxr

from dsp import io as audio_io
from dsp.fades import fade_gain
from dsp.limiter import reset_gain_reduction
from dsp.loudness import LoudnessMeter, LoudnessPartial
from dsp.units import db_to_linear
from farm.errors import RenderError
from farm.storage import stems

from . import pcmfile
from .delivery import DeliverablePlan
from .diskspace import writing_into
from .mastering import MASTER_TRUE_PEAK_OVERSAMPLING, MasterPass
from .plan import (
    MIX_TRUE_PEAK_OVERSAMPLING,
    RenderPlan,
    first_frame,
)
from .scratch import ScratchSignal
from .strip import (
    destinations,
    initial_state,
    render_strip_chunk,
    run_effects,
    sum_feeds,
)

DELIVERY_BLOCK_FRAMES = 1 << 18
MIX_SIGNAL = "mix"
"""The scratch signal the mixing stage writes and the loudness stage reads."""
MASTER_SIGNAL = "master"
"""The scratch signal the loudness stage writes and the deliverables read."""


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


def resample_stem(source: str, target: str, sample_rate: int) -> dict:
    """Resample a whole stem to ``sample_rate`` with soxr VHQ into a float32 WAV at ``target``; returns meta.

    The copy holds :func:`dsp.io.resampled_frames` frames, as the plan's clip spans expect.
    """
    started = time.perf_counter()
    facts = stems.info(source)
    audio, rate = stems.read_frames(source, 0, facts.frames), facts.sample_rate
    Path(target).parent.mkdir(exist_ok=True)
    resampled = audio_io.resample(audio, rate, sample_rate, "VHQ")
    with writing_into(Path(target).parent):
        audio_io.write(target, resampled, sample_rate, bit_depth="32f")
    return _meta("resample", started)


def strip_chunk(plan: RenderPlan, name: str, start: int, stop: int, state: dict | None, *feed_blocks: np.ndarray):
    """Frames ``[start, stop)`` of a track or bus: one block per destination, the new state, meta.

    A time-parallel strip starts from silence its pre-roll early and returns
    no state; a bus among them gets its feeds' blocks of the previous chunk
    before this chunk's (see :func:`farm.engine.strip.sum_feeds`).
    """
    started = time.perf_counter()
    strip = plan.strip(name)
    begin = strip.first_frame(start)
    state = initial_state(strip, plan.sample_rate) if state is None else state
    outputs, state = render_strip_chunk(strip, begin, start, stop, state, list(feed_blocks), plan.sample_rate)
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
    audio, feed_states = sum_feeds(strip, list(feed_blocks), state, begin, start, stop)
    audio, fx_states = run_effects(strip, audio, state)
    first, lo, metered = _on_timeline(audio, begin, start, stop, latency, plan.timeline_frames)
    ScratchSignal(Path(workdir) / MIX_SIGNAL).write(lo, metered[lo - first :])
    meter = LoudnessMeter(rate, 2, MIX_TRUE_PEAK_OVERSAMPLING, start_frame=lo, preroll_frames=lo - first, state=state["meter"])
    meter.process(metered)
    new_state = None if strip.time_parallel else {"fx": fx_states, "feeds": feed_states, "meter": meter.state()}
    return meter.partial(), new_state, _meta("mix", started, strip="master")


def master_chunk(plan: RenderPlan, master_pass: MasterPass, start: int, stop: int, state: dict | None, workdir: str):
    """Frames ``[start, stop)`` of one pass of the loudness stage: gain, true-peak limiter, fades; written to the master signal.

    Without the pass's pre-roll, ``state`` carries on from the previous
    chunk; with it, the chunk starts from silence that many frames early.
    The limiter's latency is removed so the master lines up with the
    timeline. Returns the loudness partial of the written frames, the new
    state (the limiter's largest gain reduction is counted from ``start``
    on) and meta.
    """
    started = time.perf_counter()
    rate, limiter, preroll = plan.sample_rate, master_pass.limiter, master_pass.preroll_frames
    begin = first_frame(start, preroll)
    if state is None:
        state = {"limiter": limiter.init_state(2) if limiter else None, "meter": None}
    audio = ScratchSignal(Path(workdir) / MIX_SIGNAL).read(begin, stop) * db_to_linear(master_pass.gain_db)
    limiter_state = state["limiter"]
    if limiter:
        warm, limiter_state = limiter.process(audio[: start - begin], limiter_state)
        limiter_state = reset_gain_reduction(limiter_state)
        limited, limiter_state = limiter.process(audio[start - begin :], limiter_state)
        audio = np.concatenate([warm, limited])
    first, lo, metered = _on_timeline(audio, begin, start, stop, master_pass.latency_frames, plan.timeline_frames)
    fades = fade_gain(first, metered.shape[0], plan.timeline_frames, master_pass.fade_in_frames, master_pass.fade_out_frames)
    metered = metered * fades[:, None]
    ScratchSignal(Path(workdir) / MASTER_SIGNAL).write(lo, metered[lo - first :])
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


def deliver_chunk(plan: RenderPlan, index: int, trim_db: float, workdir: str, start: int, stop: int, target: str, data_offset: int | None):
    """Frames ``[start, stop)`` of the master (on the deliverable's grid) as deliverable ``index``: resampled, trimmed, quantised.

    The chunk is resampled with soxr VHQ from the master with the plan's
    margin each side, which matches resampling the whole master to within
    1e-15. It is quantised with TPDF dither drawn for its frames' positions
    (:class:`dsp.dither.Quantiser`), written to the deliverable's scratch
    signal at the output rate, or straight into the file at ``target`` when
    it is written in place (``data_offset``, see :mod:`farm.engine.pcmfile`),
    and metered from the values written (8x true peak), after a meter
    pre-roll made the same way. Shaped dither feeds its error back from
    sample to sample, so such a deliverable's chunks are kept unquantised and
    :func:`encode` quantises and meters them in order. Returns the loudness
    partial (None for shaped dither) and meta.
    """
    started = time.perf_counter()
    deliverable = plan.deliverables[index]
    rate, out_rate = plan.sample_rate, deliverable.sample_rate
    margin = deliverable.margin_frames
    lo = max(start - deliverable.meter_frames - margin, 0)
    hi = min(stop + margin, plan.timeline_frames) if margin else stop
    block = ScratchSignal(Path(workdir) / MASTER_SIGNAL).read(lo, hi)
    if out_rate != rate:
        block = soxr.resample(block, rate, out_rate, quality="VHQ")
    out_lo, out_start, out_stop = (frame * out_rate // rate for frame in (lo, start, stop))
    if stop >= plan.timeline_frames:
        out_stop = out_lo + block.shape[0]
    metered_from = max(start - deliverable.meter_frames, 0) * out_rate // rate
    block = block[metered_from - out_lo : out_stop - out_lo] * db_to_linear(trim_db)
    quantiser = deliverable.quantiser
    if quantiser is None:
        block = block.astype(np.float32).astype(np.float64)
    elif not deliverable.shaped:
        block, _ = quantiser.process(block, {**quantiser.init_state(2), "frame": np.array(metered_from, dtype=np.int64)})
    samples = _as_written(block[out_start - metered_from :], deliverable)
    if data_offset is None:
        _scratch(workdir, deliverable).write(out_start, samples)
    else:
        pcmfile.write(target, deliverable.format, deliverable.bit_depth, data_offset, out_start, samples)
    if deliverable.shaped:
        return None, _meta("deliver", started)
    meter = LoudnessMeter(out_rate, 2, MASTER_TRUE_PEAK_OVERSAMPLING, start_frame=out_start, preroll_frames=out_start - metered_from)
    meter.process(block)
    return meter.partial(), _meta("deliver", started)


def encode(plan: RenderPlan, index: int, trim_db: float, workdir: str, target: str, *partials):
    """Finish deliverable ``index`` at ``target`` from its chunks (:func:`deliver_chunk`, one partial each, in order).

    A file written in place is already whole; any other is written here from
    the chunks' scratch signal, shaped dither applied in order and the result
    metered as it is written. Returns the file's facts (path, format, rate,
    bit depth, frames, bytes, and the loudness of the samples written, 8x
    true peak) and meta.
    """
    started = time.perf_counter()
    deliverable = plan.deliverables[index]
    if deliverable.in_place:
        merged, frames = LoudnessPartial.merge(partials), soundfile.info(target).frames
        if merged.end_frame != frames:
            raise RenderError(f"{deliverable.path}: the chunks wrote {merged.end_frame} frames into a file made for {frames}")
        loudness = merged.report()
    else:
        loudness, frames = _write_from_scratch(deliverable, workdir, target, partials)
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
    }, _meta("encode", started)


def _write_from_scratch(deliverable: DeliverablePlan, workdir: str, target: str, partials) -> tuple:
    """Write a deliverable from its chunks' scratch signal; returns (loudness report, frames)."""
    source = _scratch(workdir, deliverable)
    frames = source.frames()
    quantiser, shaped = deliverable.quantiser, deliverable.shaped
    q_state = quantiser.init_state(2) if shaped else None
    meter = LoudnessMeter(deliverable.sample_rate, 2, MASTER_TRUE_PEAK_OVERSAMPLING) if shaped else None
    _make_folder_in(Path(workdir), Path(target).parent)
    with (
        writing_into(Path(target).parent),
        audio_io.open_for_writing(target, deliverable.sample_rate, 2, deliverable.format, deliverable.subtype) as handle,
    ):
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


def _scratch(workdir: str, deliverable: DeliverablePlan) -> ScratchSignal:
    """Where deliverable's chunks wait to be written, at its rate."""
    return ScratchSignal(Path(workdir) / f"deliver-{deliverable.index}", dtype=deliverable.scratch_dtype)


def _as_written(block: np.ndarray, deliverable: DeliverablePlan) -> np.ndarray:
    """Quantised float samples as the int32 that libsndfile writes exactly (the bit depth's steps in the top bits)."""
    if deliverable.bit_depth == "32f" or deliverable.shaped:
        return block
    return np.round(block * 2.0 ** 31).astype(np.int32)
