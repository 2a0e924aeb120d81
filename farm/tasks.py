"""The kinds of task a render is made of, each a plain function.

Executors run these by kind; an unknown kind fails loudly. Every task returns
its results followed by a small ``meta`` dict (``kind``, ``node``,
``seconds``, ``started_at`` in Unix seconds) so the renderer can report where work ran. Tasks read their own
audio from storage and write their own results there; what travels between
them is one chunk of audio or a strategy's state at a time.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import soundfile
import soxr

from dsp import io as audio_io
from dsp.dither import Quantiser
from dsp.fades import fade_gain
from dsp.loudness import LoudnessMeter
from dsp.units import db_to_linear

from . import stems
from .analyze import analyze_file
from .chunkstore import ChunkStore
from .plan import RenderPlan
from .strip import destinations, initial_state, render_strip_chunk, sum_feeds, run_effects

DELIVERY_BLOCK_FRAMES = 1 << 18


def _node() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return "local"


def _meta(kind: str, started: float) -> dict:
    seconds = time.perf_counter() - started
    return {"kind": kind, "node": _node(), "seconds": seconds, "started_at": time.time() - seconds}


def resample_stem(source: str, target: str, sample_rate: int) -> tuple[str, dict]:
    """Resample a whole stem to ``sample_rate`` with soxr VHQ into a float32 WAV at ``target``."""
    started = time.perf_counter()
    facts = stems.info(source)
    audio, rate = stems.read_frames(source, 0, facts.frames), facts.sample_rate
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    audio_io.write(target, audio_io.resample(audio, rate, sample_rate, "VHQ"), sample_rate, bit_depth="32f")
    return target, _meta("resample", started)


def strip_chunk(plan: RenderPlan, name: str, start: int, stop: int, state: dict | None, *feed_blocks: np.ndarray):
    """Frames ``[start, stop)`` of a track or bus: one block per destination, the new state, meta."""
    started = time.perf_counter()
    strip = plan.strip(name)
    state = initial_state(strip, plan.sample_rate) if state is None else state
    outputs, state = render_strip_chunk(strip, start, stop, state, list(feed_blocks), plan.sample_rate)
    return (*[outputs[target] for target in destinations(strip)], state, _meta(strip.kind, started))


def mix_chunk(plan: RenderPlan, start: int, stop: int, state: dict | None, workdir: str, *feed_blocks: np.ndarray):
    """Frames ``[start, stop)`` of the master's sum and chain, written to the mix store and metered.

    Returns the loudness partial of the aligned frames, the new state and meta.
    """
    started = time.perf_counter()
    strip = plan.strip("master")
    rate = plan.sample_rate
    if state is None:
        state = initial_state(strip, rate)
        state["meter"] = None
    audio, feed_states = sum_feeds(strip, list(feed_blocks), state, rate, stop - start)
    audio, fx_states = run_effects(strip, audio, state)
    lo, hi = max(start - plan.mix_latency, 0), min(stop - plan.mix_latency, plan.timeline_frames)
    aligned = audio[lo - (start - plan.mix_latency) : max(lo, hi) - (start - plan.mix_latency)]
    ChunkStore(Path(workdir) / "mix").write(lo, aligned)
    meter = LoudnessMeter(rate, 2, start_frame=lo, state=state["meter"])
    meter.process(aligned)
    new_state = {"fx": fx_states, "feeds": feed_states, "meter": meter.state()}
    return meter.partial(), new_state, _meta("mix", started)


def master_chunk(plan: RenderPlan, settings: dict, start: int, stop: int, state: dict | None, workdir: str):
    """Frames ``[start, stop)`` of the loudness stage: gain, true-peak limiter, fades.

    ``settings`` holds ``gain_db``, ``limiter`` (a Limiter or None),
    ``fade_in_frames`` and ``fade_out_frames``. The limiter's latency is
    removed so the master lines up with the timeline. Returns the loudness
    partial of the written frames, the new state and meta.
    """
    started = time.perf_counter()
    rate, limiter = plan.sample_rate, settings["limiter"]
    latency = limiter.latency_samples if limiter else 0
    if state is None:
        state = {"limiter": limiter.init_state(2) if limiter else None, "meter": None}
    audio = ChunkStore(Path(workdir) / "mix").read(start, stop) * db_to_linear(settings["gain_db"])
    limiter_state = state["limiter"]
    if limiter:
        audio, limiter_state = limiter.process(audio, limiter_state)
    lo, hi = max(start - latency, 0), min(stop - latency, plan.timeline_frames)
    aligned = audio[lo - (start - latency) : max(lo, hi) - (start - latency)]
    aligned = aligned * fade_gain(lo, aligned.shape[0], plan.timeline_frames, settings["fade_in_frames"], settings["fade_out_frames"])[:, None]
    ChunkStore(Path(workdir) / settings["store"]).write(lo, aligned)
    meter = LoudnessMeter(rate, 2, true_peak_oversampling=8, start_frame=lo, state=state["meter"])
    meter.process(aligned)
    new_state = {"limiter": limiter_state, "meter": meter.state()}
    return meter.partial(), new_state, _meta("master", started)


def dither_seed(session_name: str, output_path: str) -> int:
    """A stable seed from the session and the output, so re-renders are bit-identical."""
    digest = hashlib.sha256(f"{session_name}\0{output_path}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def deliver(plan: RenderPlan, output: dict, trim_db: float, workdir: str, store: str, target: str):
    """Write one deliverable from the master store: resample, trim by ``trim_db``, dither, encode; then re-measure it.

    Returns the written file's facts (path, format, rate, bit depth, loudness
    measured from the file with 8x true peak) and meta.
    """
    started = time.perf_counter()
    source = ChunkStore(Path(workdir) / store)
    out_rate = output["sample_rate"] or plan.sample_rate
    bit_depth = str(output["bit_depth"])
    quantiser = None if bit_depth == "32f" else Quantiser(int(bit_depth), output["dither"], dither_seed(plan.session_name, output["path"]))
    q_state = quantiser.init_state(2) if quantiser else None
    resampler = soxr.ResampleStream(plan.sample_rate, out_rate, 2, dtype="float64", quality="VHQ") if out_rate != plan.sample_rate else None
    subtype = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}[bit_depth]
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with soundfile.SoundFile(target, "w", out_rate, 2, subtype=subtype, format=output["format"].upper()) as handle:
        for begin in range(0, plan.timeline_frames, DELIVERY_BLOCK_FRAMES):
            end = min(begin + DELIVERY_BLOCK_FRAMES, plan.timeline_frames)
            block = source.read(begin, end)
            if resampler:
                block = resampler.resample_chunk(block, last=end == plan.timeline_frames)
            if trim_db:
                block = block * db_to_linear(trim_db)
            if quantiser:
                block, q_state = quantiser.process(block, q_state)
            handle.write(block)
    facts = audio_io.info(target)
    report = analyze_file(target, true_peak_oversampling=8).to_dict()
    return {
        "path": output["path"],
        "format": output["format"],
        "bit_depth": output["bit_depth"],
        "sample_rate": facts.sample_rate,
        "dither": output["dither"] if quantiser else "none",
        "trim_db": trim_db,
        "frames": facts.frames,
        "duration_s": facts.duration_s,
        "bytes": os.path.getsize(target),
        "loudness": report,
    }, _meta("deliver", started)


TASKS = {fn.__name__: fn for fn in (resample_stem, strip_chunk, mix_chunk, master_chunk, deliver)}
"""Task kind -> function. Executors refuse any other kind."""
