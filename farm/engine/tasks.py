"""The kinds of task a render is made of, each a plain function.

The renderer hands these functions to an executor (``executor.submit(bus_chunk,
...)``), so every call site names the task it runs. Every task returns its
results followed by a small ``meta`` dict so the renderer can report where
work ran: ``kind``, ``stage`` (:data:`STAGES`), ``node``, ``seconds``,
``started_at`` in Unix seconds, ``memory_used_bytes`` of its node (None where
unknown), ``strip`` for a strip's chunk, the chunk's frames ``start_frame``
and ``stop_frame`` at the plan's ``sample_rate``, and ``output`` for a
deliverable's chunk. Tasks read their stems from
storage themselves; everything else they take and return as arguments and
results: a chunk of audio, the blocks of the mix or master that cover a range
(:mod:`farm.engine.blocks`), a strip's state. No task touches a folder that
another node would need to see.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np
import soxr

from dsp.fades import fade_gain
from dsp.limiter import reset_gain_reduction
from dsp.loudness import LoudnessMeter
from dsp.matching import (
    SILENCE_DB,
    Spectrum,
    analyse_blocks,
    analysis_frame_starts,
    frame_frames,
    frame_powers,
    long_term_spectrum,
)
from dsp.mixing import add_into
from dsp.units import db_to_linear
from farm.errors import RenderError
from farm.storage import stems

from .blocks import BLOCK_DTYPE, assemble
from .delivery import DeliverablePlan
from .mastering import MASTER_TRUE_PEAK_OVERSAMPLING, MasterPass
from .plan import (
    MIX_TRUE_PEAK_OVERSAMPLING,
    RenderPlan,
    first_frame,
)
from .strip import (
    destinations,
    initial_state,
    render_strip_chunk,
    run_effects,
    strip_keys,
    sum_feeds,
)


def _node() -> str:
    """The Ray node this task runs on, or "local" outside Ray (which is then never imported: that takes half a second)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id()
    return "local"


STAGES = {"reference": "prepare", "tracks": "mix", "bus": "mix", "mix": "mix", "match": "match", "master": "loudness", "deliver": "deliver"}
"""The render stage each kind of task belongs to: prepare (the matching reference's analysis), mix, match (the mix's
analysis), loudness (the passes of the loudness stage, which the renderer numbers) and deliver."""

MEMINFO = "/proc/meminfo"


def node_memory_used_bytes() -> int | None:
    """Bytes of this machine's memory in use (total less available, as Linux counts them); None where that is unknown."""
    try:
        with open(MEMINFO) as handle:
            fields = dict(line.split(":", 1) for line in handle)
        return (int(fields["MemTotal"].split()[0]) - int(fields["MemAvailable"].split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        return None


def _meta(kind: str, started: float, **details) -> dict:
    seconds = time.perf_counter() - started
    facts = {"kind": kind, "stage": STAGES[kind], "node": _node(), "seconds": seconds, "started_at": time.time() - seconds}
    return {**facts, "memory_used_bytes": node_memory_used_bytes(), **details}


def tracks_chunk(plan: RenderPlan, group_name: str, start: int, stop: int, states: tuple | None, *key_blocks: np.ndarray):
    """Frames ``[start, stop)`` of a track group.

    Returns one block per destination (its members' outputs there, summed),
    then its members' key taps (``group.taps``) and stems (``group.stems``),
    then the new states and meta. Time-parallel members start from silence
    their pre-roll early and the group returns no states; otherwise
    ``states`` holds each member's state from the previous chunk (None
    before the first). A group of a keyed track gets its keys' taps as
    :func:`bus_chunk` gets a bus's feeds.
    """
    started = time.perf_counter()
    group, rate = plan.group(group_name), plan.sample_rate
    sums: dict[str, np.ndarray] = {}  # the first member's output arrays, summed into in place
    taps: dict[tuple[str, bool], np.ndarray] = {}
    stems: dict[str, np.ndarray] = {}
    new_states = []
    reused = Counter()
    for name, state in zip(group.tracks, states or (None,) * len(group.tracks)):
        strip = plan.strip(name)
        begin = strip.first_frame(start)
        state = initial_state(strip, rate) if state is None else state
        outputs, strip_taps, main, state, from_cache = render_strip_chunk(strip, begin, start, stop, state, [], list(key_blocks), rate, plan.track_cache)
        if from_cache is not None:
            reused["hits" if from_cache else "misses"] += 1
        for target, audio in outputs.items():
            if target in sums:
                add_into(sums[target], audio[start - begin :])
            else:
                sums[target] = audio[start - begin :]
        taps.update(((name, pre_fader), audio[start - begin :].copy()) for pre_fader, audio in strip_taps.items())
        if strip.stem:
            stems[name] = _on_stem_timeline(plan, strip.latency_out, main[start - begin :], start, stop)
        new_states.append(state)
    carried = tuple(new_states) if not group.time_parallel else None
    blocks = [sums[target] for target in group.destinations] + [taps[tap] for tap in group.taps] + [stems[name] for name in group.stems]
    return (
        *blocks,
        carried,
        _meta("tracks", started, strip=group_name, tracks=list(group.tracks), start_frame=start, stop_frame=stop, sample_rate=plan.sample_rate, **({"effects_cache": dict(reused)} if reused else {})),
    )


def bus_chunk(plan: RenderPlan, name: str, start: int, stop: int, state: dict | None, *blocks: np.ndarray):
    """Frames ``[start, stop)`` of a bus: one block per destination, its key taps (``strip.taps``), its stem if written, the new state, meta.

    ``blocks`` are its feeds' blocks, then its keys' taps. A time-parallel
    bus starts from silence its pre-roll early and returns no state; it gets
    each input's block of the previous chunk before this chunk's (see
    :func:`farm.engine.strip.sum_feeds`).
    """
    started = time.perf_counter()
    strip = plan.strip(name)
    begin = strip.first_frame(start)
    state = initial_state(strip, plan.sample_rate) if state is None else state
    feed_blocks, key_blocks = _split_inputs(strip, begin, start, blocks)
    outputs, taps, main, state, _ = render_strip_chunk(strip, begin, start, stop, state, feed_blocks, key_blocks, plan.sample_rate)
    carried = None if strip.time_parallel else state
    results = [outputs[target][start - begin :] for target in destinations(strip)] + [taps[pre_fader][start - begin :] for pre_fader in strip.taps]
    if strip.stem:
        results.append(_on_stem_timeline(plan, strip.latency_out, main[start - begin :], start, stop))
    return (*results, carried, _meta("bus", started, strip=name, start_frame=start, stop_frame=stop, sample_rate=plan.sample_rate))


def _split_inputs(strip, begin: int, start: int, blocks: tuple[np.ndarray, ...]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A strip's input blocks split into its feeds' and its keys' (each with the previous chunk's first when the chunk has pre-roll)."""
    feeds = len(strip.feeds) * (2 if begin < start else 1)
    return list(blocks[:feeds]), list(blocks[feeds:])


def _on_stem_timeline(plan: RenderPlan, latency: int, audio: np.ndarray, start: int, stop: int) -> np.ndarray:
    """A strip's output for the chunk ``[start, stop)``, ``latency`` frames late, as the timeline frames :func:`timeline_span` gives (as :data:`BLOCK_DTYPE`)."""
    lo, hi = timeline_span(start, stop, latency, plan.timeline_frames)
    return audio[lo + latency - start : hi + latency - start].astype(BLOCK_DTYPE)


def mix_chunk(plan: RenderPlan, start: int, stop: int, state: dict | None, *blocks: np.ndarray):
    """Frames ``[start, stop)`` of the master's sum and chain, on the timeline and metered.

    ``blocks`` are its feeds' blocks, then its keys' taps, as :func:`bus_chunk` takes them.

    Returns the mix bus over timeline frames :func:`timeline_span` gives
    (as :data:`~farm.engine.blocks.BLOCK_DTYPE`), the loudness partial of
    the values kept, the new state (None when the
    master is time-parallel) and meta.
    """
    started = time.perf_counter()
    strip = plan.strip("master")
    rate, latency = plan.sample_rate, plan.mix_latency
    begin = strip.first_frame(start)
    if state is None:
        state = initial_state(strip, rate)
        state["meter"] = None
    feed_blocks, key_blocks = _split_inputs(strip, begin, start, blocks)
    audio, feed_states = sum_feeds(strip, feed_blocks, state, begin, start, stop)
    keys, key_states = strip_keys(strip, key_blocks, state, begin, start, stop)
    audio, fx_states = run_effects(strip, audio, state, begin, rate, keys)
    first, lo, metered = _on_timeline(audio, begin, start, stop, latency, plan.timeline_frames)
    kept = metered.astype(BLOCK_DTYPE)
    meter = LoudnessMeter(rate, 2, MIX_TRUE_PEAK_OVERSAMPLING, start_frame=lo, preroll_frames=lo - first, state=state["meter"])
    meter.process(kept)
    new_state = None if strip.time_parallel else {"fx": fx_states, "feeds": feed_states, "keys": key_states, "meter": meter.state()}
    return kept[lo - first :], meter.partial(), new_state, _meta("mix", started, strip="master", start_frame=start, stop_frame=stop, sample_rate=plan.sample_rate)


REFERENCE_BLOCK_S = 30.0
"""Seconds of the reference read at a time for its analysis."""


def match_reference(plan: RenderPlan):
    """The long-term spectrum of the session's matching reference (:func:`reference_spectrum`), and meta."""
    started = time.perf_counter()
    match = plan.loudness.match
    return reference_spectrum(match.reference, match.written, plan.sample_rate), _meta("reference", started)


def reference_spectrum(location: str, written: str, sample_rate: int) -> Spectrum:
    """The long-term spectrum (:func:`dsp.matching.long_term_spectrum`) of the reference at ``location``, read in blocks and resampled to ``sample_rate`` Hz.

    A mono reference counts as both channels. Raises RenderError naming the
    reference (as ``written``) when it has no passage louder than
    :data:`dsp.matching.SILENCE_DB`.
    """
    facts = stems.info(location)
    step = max(1, round(REFERENCE_BLOCK_S * facts.sample_rate))
    resampler = soxr.ResampleStream(facts.sample_rate, sample_rate, 2, dtype="float64", quality="VHQ") if facts.sample_rate != sample_rate else None

    def blocks():
        for first in range(0, facts.frames, step):
            block = stems.read_frames(location, first, min(first + step, facts.frames)).astype(np.float64)
            block = np.repeat(block, 2, axis=1) if block.shape[1] == 1 else block
            yield resampler.resample_chunk(block, last=first + step >= facts.frames) if resampler else block

    spectrum = long_term_spectrum(analyse_blocks(blocks(), sample_rate), sample_rate)
    if spectrum is None:
        raise RenderError(f"master.match.reference: {written} is silent (nothing above {SILENCE_DB:g} dBFS): there is no tonal balance to match")
    return spectrum


def match_chunk(plan: RenderPlan, start: int, stop: int, mix_starts: tuple[int, ...], *mix_blocks: np.ndarray):
    """The band powers (:class:`dsp.matching.FramePowers`) of the mix's analysis frames that start in ``[start, stop)``, and meta.

    The mix comes as the blocks that cover those frames to their ends.
    """
    started = time.perf_counter()
    rate = plan.sample_rate
    audio = assemble(mix_starts, mix_blocks, start, min(stop + frame_frames(rate), plan.timeline_frames))
    return frame_powers(audio, rate, start, analysis_frame_starts(start, stop, rate)), _meta("match", started, start_frame=start, stop_frame=stop, sample_rate=plan.sample_rate)


def master_chunk(plan: RenderPlan, master_pass: MasterPass, start: int, stop: int, state: dict | None, mix_starts: tuple[int, ...], *mix_blocks: np.ndarray):
    """Frames ``[start, stop)`` of one pass of the loudness stage: gain, matching EQ, true-peak limiter, fades.

    The mix comes as the blocks that cover the chunk and its pre-roll
    (``mix_starts``: their first frames; see :mod:`farm.engine.blocks`).
    Without the pass's pre-roll, ``state`` carries on from the previous
    chunk; with it, the chunk starts from silence that many frames early.
    The limiter's latency is removed so the master lines up with the
    timeline. Returns the master over timeline frames :func:`timeline_span`
    gives (as :data:`~farm.engine.blocks.BLOCK_DTYPE`), the loudness partial
    of the values kept, the new state (the
    limiter's largest gain reduction is counted from ``start`` on) and meta.
    """
    started = time.perf_counter()
    rate, limiter, preroll = plan.sample_rate, master_pass.limiter, master_pass.preroll_frames
    begin = first_frame(start, preroll)
    match = master_pass.match
    if state is None:
        state = {"match": match.init_state(2) if match else None, "limiter": limiter.init_state(2) if limiter else None, "meter": None}
    audio = assemble(mix_starts, mix_blocks, begin, stop) * db_to_linear(master_pass.gain_db)
    match_state = state["match"]
    if match:
        audio, match_state = match.process(audio, match_state)
    limiter_state = state["limiter"]
    if limiter:
        warm, limiter_state = limiter.process(audio[: start - begin], limiter_state)
        limiter_state = reset_gain_reduction(limiter_state)
        limited, limiter_state = limiter.process(audio[start - begin :], limiter_state)
        audio = np.concatenate([warm, limited])
    first, lo, metered = _on_timeline(audio, begin, start, stop, master_pass.latency_frames, plan.timeline_frames)
    fades = fade_gain(first, metered.shape[0], plan.timeline_frames, master_pass.fade_in_frames, master_pass.fade_out_frames)
    kept = (metered * fades[:, None]).astype(BLOCK_DTYPE)
    meter = LoudnessMeter(rate, 2, MASTER_TRUE_PEAK_OVERSAMPLING, start_frame=lo, preroll_frames=lo - first, state=state["meter"])
    meter.process(kept)
    new_state = {"match": match_state, "limiter": limiter_state, "meter": None if preroll is not None else meter.state()}
    return kept[lo - first :], meter.partial(), new_state, _meta("master", started, start_frame=start, stop_frame=stop, sample_rate=plan.sample_rate)


def _on_timeline(audio: np.ndarray, begin: int, start: int, stop: int, latency: int, timeline_frames: int):
    """The part of ``audio`` (frames ``[begin, stop)``, ``latency`` late) that lies on the timeline.

    Returns ``(first, lo, metered)``: ``metered`` covers timeline frames
    ``[first, ...)``, pre-roll included; the chunk's own frames start at ``lo``.
    """
    lo, hi = timeline_span(start, stop, latency, timeline_frames)
    first = max(begin - latency, 0)
    return first, lo, audio[first - (begin - latency) : hi - (begin - latency)]


def timeline_span(start: int, stop: int, latency: int, timeline_frames: int) -> tuple[int, int]:
    """The timeline frames ``[lo, hi)`` that the chunk ``[start, stop)`` of a signal ``latency`` frames late yields (``hi >= lo``)."""
    lo = max(start - latency, 0)
    return lo, max(lo, min(stop - latency, timeline_frames))


def deliver_chunk(plan: RenderPlan, index: int, trim_db: float, start: int, stop: int, master_starts: tuple[int, ...], *master_blocks: np.ndarray):
    """Frames ``[start, stop)`` of the master (on the deliverable's grid) as deliverable ``index``: resampled, trimmed, quantised.

    The master comes as the blocks that cover the chunk, its resampler margin
    and its meter pre-roll (``master_starts``: their first frames). The chunk
    is resampled with soxr VHQ with the plan's margin each side, which
    matches resampling the whole master to within 1e-15. It is quantised with
    TPDF dither drawn for its frames' positions (:class:`dsp.dither.Quantiser`)
    and metered from the values to be written (true peak 8x, a stem's 4x), after a meter
    pre-roll made the same way. Shaped dither feeds its error back from sample
    to sample, so such a deliverable's chunks stay unquantised and the writer
    (:func:`farm.engine.writer.write_deliverable`) quantises and meters them
    in order. A lossy file is measured as it decodes, after it is written,
    so its chunks are not metered. Returns the samples as the file takes
    them (int32 with the bit depth's steps in the top bits, float32, or
    float64 before shaped dither), the loudness partial (None for shaped
    dither and lossy files) and meta.
    """
    started = time.perf_counter()
    deliverable = plan.deliverables[index]
    rate, out_rate = plan.sample_rate, deliverable.sample_rate
    lo, hi = delivery_read_span(plan, deliverable, start, stop)
    block = assemble(master_starts, master_blocks, lo, hi)
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
    if deliverable.shaped or deliverable.lossy:
        return samples, None, _meta("deliver", started, output=deliverable.path, start_frame=start, stop_frame=stop, sample_rate=plan.sample_rate)
    meter = LoudnessMeter(out_rate, 2, deliverable.true_peak_oversampling, start_frame=out_start, preroll_frames=out_start - metered_from)
    meter.process(block)
    return samples, meter.partial(), _meta("deliver", started, output=deliverable.path, start_frame=start, stop_frame=stop, sample_rate=plan.sample_rate)


def delivery_read_span(plan: RenderPlan, deliverable: DeliverablePlan, start: int, stop: int) -> tuple[int, int]:
    """The master frames ``[lo, hi)`` that the delivery chunk ``[start, stop)`` reads: its meter pre-roll and resampler margins included."""
    margin = deliverable.margin_frames
    lo = max(start - deliverable.meter_frames - margin, 0)
    hi = min(stop + margin, plan.timeline_frames) if margin else stop
    return lo, hi


def _as_written(block: np.ndarray, deliverable: DeliverablePlan) -> np.ndarray:
    """Samples as the file takes them: quantised floats as the int32 that libsndfile writes exactly (the bit depth's steps in the top bits).

    32-bit float and a lossy format's samples as float32; shaped dither's unquantised float64 as it is.
    """
    if deliverable.quantiser is None:
        return block.astype(np.float32)
    if deliverable.shaped:
        return block
    return np.round(block * 2.0**31).astype(np.int32)
