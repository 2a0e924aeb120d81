"""Rendering a session: the stages, run on an executor, and the render report.

1. **Mix**: for each time chunk, every track (in groups, each group's
   outputs summed per destination: :mod:`farm.engine.groups`), then every
   bus in routing order, then the master's sum and chain. A strip the compiler gave a
   pre-roll renders its chunks at once, each from silence a little early; a
   strip that carries state resumes from its previous chunk (see
   :mod:`farm.engine.plan`). The mix bus stays as the blocks the chunks
   returned (:mod:`farm.engine.blocks`) and its loudness is measured on the
   way (:class:`dsp.loudness.LoudnessPartial` per chunk, merged). At most
   ``window`` chunks are in flight.
   With ``master.match``, the reference is analysed by a task of its own
   while the mix renders; then the mix bus is analysed in chunks (each
   chunk's frames of :mod:`dsp.matching`), and the matching EQ is fixed
   from the two spectra before the master is made, so its chunks all apply
   the same linear-phase FIRs.
2. **Master** (only with ``master.loudness``): gain, the matching EQ, the
   true-peak limiter, fades; the result is measured and the gain corrected
   (limiting lowers loudness; after two passes the correction follows how
   much loudness the last dB of gain added) until it lands within
   :data:`LOUDNESS_TOLERANCE_LU`, at most :data:`MAX_LOUDNESS_PASSES` passes.
   Without a loudness target only the matching EQ and the fades apply. Each pass runs its chunks
   at once, with the limiter's and the meter's pre-roll, each reading the
   mix blocks that cover it; the last pass's master is kept the same way.
3. **Deliver**: every output in time chunks, each resampled, dithered and
   metered (true peak 8x; a stem 4x) from the values it will write, from the master
   blocks that cover it; this process writes each file from its chunks in
   order (:mod:`farm.engine.writer`), and meters a lossy file as it decodes.
   A deliverable whose loudness misses the target (by more than
   :data:`LOUDNESS_TOLERANCE_LU`, or :data:`LOSSY_LOUDNESS_TOLERANCE_LU` for
   a lossy file; sample-rate conversion removes the content above its
   Nyquist frequency, which K-weighting counts) is trimmed and written again;
   if a file overshoots the ceiling (conversion, encoding and trims can
   raise peaks), stage 2 makes it a master whose limiter ceiling is lowered
   by the excess, and only that file is written again from it; the lossy
   files that overshoot in one round share one master, lowered by the most
   any of them needs (and :data:`LOSSY_CEILING_STEP_DB` more); at most
   :data:`MAX_CORRECTIONS` times. The other files keep theirs. While the
   first files are written, this process also writes a copy of the mix bus
   from the work folder (:mod:`farm.engine.mixcopy`), for listening.

Tasks take and return their audio (stems aside, which they read from
storage), so the nodes of a cluster share no folder. Outputs are written into
a hidden folder inside the output folder and moved into place only when all
of them are done, with ``report.json`` last; a failed render leaves no file
that looks finished.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from dsp.limiter import max_gain_reduction_db
from dsp.loudness import LoudnessPartial
from dsp.matching import (
    SILENCE_DB,
    FramePowers,
    MatchEq,
    correction,
    frame_frames,
    hop_frames,
    long_term_spectrum,
    loudness_change_db,
)
from farm.errors import RenderCancelled, RenderError
from farm.session import DEFAULT_MAX_DURATION_S, LoadedSession, load
from farm.storage import Location

from . import tasks
from .blocks import BlockSignal
from .chunkcache import ChunkCache
from .delivery import DeliverablePlan
from .executor import Executor, choose_executor
from .mastering import MasterPass
from .mixcopy import mix_copy_name, write_mix_copy
from .plan import (
    DEFAULT_CHUNK_S,
    RenderPlan,
    compile_plan,
    first_frame,
)
from .spill import SpilledSignal
from .strip import destinations
from .taskcache import TaskCache, unreachable
from .writer import ChunkFeed, write_deliverable

LOUDNESS_TOLERANCE_LU = 0.05
LOSSY_LOUDNESS_TOLERANCE_LU = 0.5
"""How far a lossy file's decoded loudness may sit from the target: encoding moves it a little, differently at each setting."""
LOSSY_MASTER_TOLERANCE_LU = LOSSY_LOUDNESS_TOLERANCE_LU / 2
"""How close a master made for lossy files alone (under a lowered ceiling) must land: half their tolerance, the encoder has the rest."""
MAX_LOUDNESS_PASSES = 5
MIN_LOUDNESS_PER_DB = 0.1
MAX_GAIN_STEP_DB = 6.0
"""The most one correction changes the loudness stage's gain."""
SATURATED_LU = 0.05
"""Less loudness than this for a dB or more of gain: the limiter takes all of it, and more gain is pointless."""
"""The least loudness a dB of gain is taken to add when correcting a pass (a limiter at work lets through less than a dB)."""
MAX_CORRECTIONS = 4
CEILING_STEP_MARGIN_DB = 0.02
LOSSY_CEILING_STEP_DB = 0.1
"""How much further than it overshot a lossy file's limiter ceiling goes down: an encoder's overshoot moves a little with every master."""

MAX_WRITER_THREADS = 8
"""The most files this process writes at once."""
QUEUED_CHUNKS_PER_FILE = 4
"""Delivery chunks that may wait for a file's writer: memory for speed."""

PROGRESS_BEFORE_END = 0.99
"""Progress stops here until the render has finished."""

Progress = Callable[[float, float, str], None]
"""Called with (fraction done 0..1, seconds of audio rendered so far, the stage at work in words, e.g. ``"loudness pass 2"``)."""


@dataclasses.dataclass
class _Tracker:
    """Counts finished tasks and where they ran, and stops the render when cancelled."""

    executor: Executor
    progress: Progress | None
    total: int
    cancel: threading.Event | None = None
    on_tasks: Callable[[list[dict]], None] | None = None
    task_cache: TaskCache | None = None
    audio_s_per_task: float = 0.0
    done: int = 0
    metas: list = dataclasses.field(default_factory=list)
    audio_s: float = 0.0
    fraction: float = 0.0
    stage: str = "preparing"
    master_passes: int = 0
    planned_master_passes: int = 1
    fraction_at_extension: float = 0.0
    done_at_extension: int = 0

    def begin(self, stage: str) -> None:
        """Name the stage now at work, and tell the progress callback at once."""
        self.stage = stage
        self.report(self.fraction)

    def check_cancel(self, in_flight: list) -> None:
        """Raise RenderCancelled, after cancelling ``in_flight`` tasks, if a cancel was requested."""
        if self.cancel is not None and self.cancel.is_set():
            self.executor.cancel(in_flight)
            raise RenderCancelled("the render was cancelled")

    def finished(self, meta_refs: list, **tags) -> None:
        """Count the tasks behind ``meta_refs`` as done, their meta given ``tags`` (what only the renderer knows)."""
        metas = [{**meta, **tags} for meta in self.executor.get(meta_refs)]
        if self.task_cache is not None:
            self.task_cache.finished(meta_refs)
        self.metas.extend(metas)
        if self.on_tasks:
            self.on_tasks(metas)
        self.done += len(metas)
        share = (self.done - self.done_at_extension) / max(self.total - self.done_at_extension, 1)
        self.report(min(self.fraction_at_extension + (1 - self.fraction_at_extension) * share, PROGRESS_BEFORE_END))

    def extend(self, tasks: int) -> None:
        """Count ``tasks`` more than planned (a correction pass): what is left of the bar is shared out again, so it keeps moving."""
        self.fraction_at_extension, self.done_at_extension = self.fraction, self.done
        self.total += tasks

    def report(self, fraction: float) -> None:
        """Tell the progress callback, never going back (later stages can take more passes than estimated)."""
        self.fraction = max(self.fraction, fraction)
        if self.progress:
            self.progress(self.fraction, self.audio_s, self.stage)


def render(
    session_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    chunk_s: float = DEFAULT_CHUNK_S,
    executor: Executor | None = None,
    progress: Progress | None = None,
    window: int | None = None,
    cancel: threading.Event | None = None,
    on_tasks: Callable[[list[dict]], None] | None = None,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    cache: ChunkCache | None = None,
) -> dict:
    """Render ``session_path`` into ``out_dir``; return the render report (also written as report.json).

    With a ``cache``, every task whose inputs are unchanged since a render
    that used it is read back instead of run (:mod:`farm.engine.taskcache`),
    and the report's ``cache`` counts hits and misses by task kind.

    Both may be local paths or storage URIs (:mod:`farm.storage`): workers
    read their stems' frame ranges from storage themselves; outputs for a URI
    are rendered into a local folder and uploaded, ``report.json`` last.

    Raises
    ------
    farm.errors.SessionError
        The session is invalid (nothing is written).
    farm.errors.RenderError
        A task failed, or the output folder cannot be written.
    farm.errors.RenderCancelled
        ``cancel`` was set; the tasks in flight are cancelled.

    ``progress`` is called as work finishes; ``on_tasks`` with the ``meta``
    dicts (:mod:`farm.engine.tasks`) of each batch of finished tasks, a
    loudness stage's chunks numbered by their pass over the render
    (``loudness_pass``, from 1). A session
    longer than ``max_duration_s`` seconds (None: no limit) is invalid.
    """
    started = time.perf_counter()
    loaded = load(session_path, max_duration_s=max_duration_s)
    plan = compile_plan(loaded, chunk_s)
    return render_plan(loaded, plan, out_dir, executor=executor, progress=progress, window=window, cancel=cancel, on_tasks=on_tasks, started=started, cache=cache)


def render_plan(
    loaded: LoadedSession,
    plan: RenderPlan,
    out_dir: str | os.PathLike,
    *,
    executor: Executor | None = None,
    progress: Progress | None = None,
    window: int | None = None,
    cancel: threading.Event | None = None,
    on_tasks: Callable[[list[dict]], None] | None = None,
    started: float | None = None,
    executor_reason: str | None = None,
    cache: ChunkCache | None = None,
    keep_mix: bool = True,
) -> dict:
    """Render a compiled ``plan`` of ``loaded`` into ``out_dir`` (a path or a storage URI); see :func:`render`.

    ``started`` (a :func:`time.perf_counter` reading) is when the render
    began, for the report's wall time and realtime factor; default now.
    ``executor_reason`` says in the report why the render ran on its executor.
    With ``keep_mix`` a copy of the mix bus is kept beside the deliverables
    (:mod:`farm.engine.mixcopy`) and named in the report's ``mix``.
    """
    started = time.perf_counter() if started is None else started
    location = Location.of(out_dir)
    if location.is_remote:
        with tempfile.TemporaryDirectory(prefix="mixfarm-out-") as staging:
            report = render_plan(
                loaded,
                plan,
                staging,
                executor=executor,
                progress=progress,
                window=window,
                cancel=cancel,
                on_tasks=on_tasks,
                started=started,
                executor_reason=executor_reason,
                cache=cache,
                keep_mix=keep_mix,
            )
            for name in _published(report) + ["report.json"]:
                location.joinpath(name).upload_from(Path(staging) / name)
        return report
    out_dir = location.local_path
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        workdir = out_dir / f".mixfarm-render-{uuid.uuid4().hex[:12]}"
        workdir.mkdir()
    except OSError as exc:
        raise RenderError(f"{out_dir}: output folder is not writable ({exc.strerror or exc})") from None
    if executor is None:
        choice = choose_executor()
        executor, executor_reason = choice.build(), choice.reason
    try:
        cache_problem = unreachable(cache) if cache is not None else None
        if cache_problem is not None:
            cache = None
        task_cache = TaskCache(cache, plan, executor) if cache is not None else None
        if task_cache is not None:
            plan = task_cache.plan
        run_on = task_cache.executor if task_cache is not None else executor
        tracker = _Tracker(run_on, progress, total=0, cancel=cancel, on_tasks=on_tasks, task_cache=task_cache)
        try:
            report = _render(loaded, plan, run_on, workdir, tracker, window or max(2, int(executor.cluster()["cpus"])), keep_mix)
        except BaseException:
            if task_cache is not None:
                task_cache.close(wait=False)
            raise
        if task_cache is not None:
            tracker.begin("writing the cache")
            task_cache.close()
        report["cache"] = task_cache.report(tracker.metas) if task_cache is not None else ({"error": cache_problem} if cache_problem else None)
        report["executor_reason"] = executor_reason
        tracker.begin("finishing")
        tracker.report(1.0)
        report["wall_s"] = time.perf_counter() - started
        report["realtime_factor"] = report["duration_s"] / report["wall_s"]
        _publish(workdir, out_dir, report)
        return report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclasses.dataclass
class _Run:
    """What every stage of one render works with: the plan (and the executor's reference to it), the work folder, the window."""

    plan: RenderPlan
    plan_ref: object
    executor: Executor
    workdir: Path
    tracker: _Tracker
    window: int
    cache: TaskCache | None = None

    def submit(self, task, *args, num_returns: int = 1, reads: tuple[BlockSignal, int] | None = None):
        """Run ``task(plan, *args)`` on the executor, or read its results from the cache.

        ``reads``: the signal whose blocks are the last arguments, and how many (so the cache names them by the signal).
        """
        if self.cache is None:
            return self.executor.submit(task, self.plan_ref, *args, num_returns=num_returns)
        return self.cache.submit(task, self.plan_ref, args, num_returns, reads)

    def put(self, value):
        """Put ``value`` to the executor (named for the cache by its fingerprint)."""
        return self.executor.put(value) if self.cache is None else self.cache.put(value)

    def add_block(self, signal: BlockSignal, start: int, stop: int, ref) -> None:
        """Add a task's block to ``signal`` (its key remembered for the cache)."""
        if self.cache is None:
            signal.add(start, stop, ref)
        else:
            self.cache.add_block(signal, start, stop, ref)


def _render(loaded: LoadedSession, plan: RenderPlan, executor: Executor, workdir: Path, tracker: _Tracker, window: int, keep_mix: bool) -> dict:
    mix_chunks = plan.chunks()
    loudness = plan.loudness
    master_passes = 2 if loudness.normalises else 1
    delivery_tasks = sum(math.ceil(plan.timeline_frames / deliverable.grid_frames) for deliverable in plan.deliverables)
    mixing_tasks = len(plan.groups) + sum(strip.kind != "track" for strip in plan.strips)
    tracker.audio_s_per_task = plan.timeline_frames / plan.sample_rate / max(len(mix_chunks), 1)
    match_chunks = len(plan.chunks(plan.timeline_frames)) + (loudness.match.spectrum is None) if loudness.match else 0
    tracker.total = len(mix_chunks) * mixing_tasks + master_passes * len(plan.chunks(plan.timeline_frames)) + delivery_tasks + match_chunks
    tracker.planned_master_passes = master_passes
    run = _Run(plan, executor.put(plan), executor, workdir, tracker, window, tracker.task_cache)
    reference = run.submit(tasks.match_reference, num_returns=2) if loudness.match and loudness.match.spectrum is None else None
    tracker.begin("mixing")
    mix_partials, mix, stems = _mix(run)
    mix_report = LoudnessPartial.merge(mix_partials).report()
    match_eq, match_report = _match(run, mix, reference) if loudness.match else (None, None)
    first_gain_db = None
    if loudness.lands_target and match_report and math.isfinite(mix_report.integrated_lufs):
        first_gain_db = loudness.target_lufs - mix_report.integrated_lufs - match_report["loudness_change_db"]
    stem_plans = [deliverable for deliverable in plan.deliverables if deliverable.strip is not None]
    written = dict(zip((deliverable.index for deliverable in stem_plans), _deliver(run, [(stem, stems[stem.strip], 0.0) for stem in stem_plans])))
    del stems

    masters = [deliverable for deliverable in plan.deliverables if deliverable.strip is None]
    made: dict[float, tuple] = {}  # limiter ceiling margin (dB) -> (gain_db, report, max GR dB, passes, the master made under it)
    margins_db, trims_db = [0.0] * len(masters), [0.0] * len(masters)
    deliverables: list[dict | None] = [None] * len(masters)
    pending = list(range(len(masters)))
    mix_copy: list[dict] = []
    copy_path = workdir / "out" / mix_copy_name([deliverable.path for deliverable in plan.deliverables])
    write_copy = (lambda: mix_copy.append(write_mix_copy(mix, copy_path, plan.sample_rate, plan.timeline_frames))) if keep_mix else None
    for _ in range(MAX_CORRECTIONS + 1):
        needed = set(margins_db) or {0.0}
        for margin_db in set(made) - needed:
            made.pop(margin_db)[-1].close()  # a master no file needs any more goes before new ones are made
        for margin_db in sorted(needed - set(made)):
            users = [deliverable for deliverable, margin in zip(masters, margins_db) if margin == margin_db]
            tolerance_lu = LOSSY_MASTER_TOLERANCE_LU if users and all(deliverable.lossy for deliverable in users) else LOUDNESS_TOLERANCE_LU
            nearest = max((margin for margin in made if margin < margin_db), default=None)
            accept_lu = LOSSY_LOUDNESS_TOLERANCE_LU if tolerance_lu == LOSSY_MASTER_TOLERANCE_LU else LOUDNESS_TOLERANCE_LU
            start_gain_db = first_gain_db if nearest is None else made[nearest][0]
            master_pass = loudness.master_pass(ceiling_margin_db=margin_db, match=match_eq)
            lowered = f" (lowered {margin_db:.2f} dB for {', '.join(user.path for user in users)}, which went over the ceiling)" if margin_db else ""
            made[margin_db] = _master(run, mix, mix_report, master_pass, tolerance_lu, accept_lu, start_gain_db, lowered)
        files = [(masters[index], made[margins_db[index]][-1], trims_db[index]) for index in pending]
        if pending and deliverables[pending[0]] is not None:
            tracker.extend(sum(math.ceil(plan.timeline_frames / deliverable.grid_frames) for deliverable, _, _ in files))
        for index, facts in zip(pending, _deliver(run, files, alongside=write_copy)):
            deliverables[index] = facts
        write_copy = None
        if not loudness.normalises:
            break
        pending, lossy_margins_db = [], {}
        for index, (deliverable, facts) in enumerate(zip(masters, deliverables)):
            tolerance_lu = LOSSY_LOUDNESS_TOLERANCE_LU if deliverable.lossy else LOUDNESS_TOLERANCE_LU
            error_lu = loudness.target_lufs - (facts["loudness"]["integrated_lufs"] or -math.inf) if loudness.lands_target else 0.0
            over_db = (facts["loudness"]["true_peak_dbtp"] or -math.inf) - loudness.ceiling_dbtp
            if abs(error_lu) > tolerance_lu:
                trims_db[index] += error_lu
            if over_db > 0 and deliverable.lossy:
                lossy_margins_db[index] = margins_db[index] + over_db + LOSSY_CEILING_STEP_DB
            elif over_db > 0:
                margins_db[index] += over_db + CEILING_STEP_MARGIN_DB
            if abs(error_lu) > tolerance_lu or over_db > 0:
                pending.append(index)
        for index in lossy_margins_db:
            margins_db[index] = max(lossy_margins_db.values())
        if not pending:
            break
    else:
        missed = ", ".join(masters[index].path for index in pending)
        raise RenderError(
            f"deliverables: {missed}: could not hold {loudness.target_lufs:g} LUFS (within {LOUDNESS_TOLERANCE_LU} LU, "
            f"{LOSSY_LOUDNESS_TOLERANCE_LU} LU for lossy files) under the {loudness.ceiling_dbtp:g} dBTP ceiling after {MAX_CORRECTIONS} corrections"
        )

    main_margin_db = margins_db[0] if masters else 0.0
    gain_db, master_report, reduction_db, passes, _ = made[main_margin_db]
    mix.close()
    for mastered in made.values():
        mastered[-1].close()
    if loudness.normalises:
        for facts, margin_db in zip(deliverables, margins_db):
            facts["limiter_ceiling_dbtp"] = loudness.ceiling_dbtp - margin_db
    written.update(zip((deliverable.index for deliverable in masters), deliverables))
    nodes = Counter(meta["node"] for meta in tracker.metas if not meta.get("cached"))
    return {
        "session": plan.session_name,
        "sample_rate": plan.sample_rate,
        "duration_s": plan.timeline_frames / plan.sample_rate,
        "chunk_s": plan.chunk_frames / plan.sample_rate,
        "chunks": len(mix_chunks),
        "target": {"integrated_lufs": loudness.target_lufs, "true_peak_dbtp": loudness.ceiling_dbtp} if loudness.normalises else None,
        "input": mix_report.to_dict(),
        "output": master_report.to_dict(),
        "gain_db": gain_db,
        "loudness_passes": passes,
        "limiter_ceiling_dbtp": (loudness.ceiling_dbtp - main_margin_db) if loudness.normalises else None,
        "limiter_max_gain_reduction_db": reduction_db,
        "match": match_report,
        "latency_compensation_samples": plan.mix_latency,
        "time_chunking": _time_chunking(plan),
        "deliverables": [written[index] for index in sorted(written)],
        "mix": mix_copy[0] if mix_copy else None,
        "executor": executor.name,
        "tasks": len(tracker.metas),
        "tasks_by_kind": dict(Counter(meta["kind"] for meta in tracker.metas)),
        "nodes": dict(nodes),
        "first_task_started_at": min(meta["started_at"] for meta in tracker.metas),
    }


def _time_chunking(plan: RenderPlan) -> dict:
    """How each strip and the loudness stage were chunked: pre-roll in seconds, or None where state was carried."""

    def seconds(frames: int | None) -> float | None:
        return None if frames is None else frames / plan.sample_rate

    return {
        "preroll_s": {strip.name: seconds(strip.preroll_frames) for strip in plan.strips},
        "loudness_stage_preroll_s": seconds(plan.loudness.preroll_frames),
    }


def _mix(run: _Run) -> tuple[list[LoudnessPartial], SpilledSignal, dict[str, BlockSignal]]:
    """Stage 1: every chunk of every strip; returns the mix bus's loudness partials in order, the mix bus, and the stems by strip.

    The mix bus's blocks move to the work folder as their chunks finish.

    Each chunk's tasks run in the plan's order. A strip that carries state
    waits for its previous chunk; a time-parallel one does not, and a bus,
    the master or a keyed track among them also gets its inputs' blocks of
    the previous chunk for its pre-roll.
    """
    plan, tracker = run.plan, run.tracker
    groups = {group.name: group for group in plan.groups}
    states: dict[str, object] = {name: None for name in plan.order}
    in_flight: list[tuple[object, list, int]] = []  # (a chunk's mix partial, its tasks' metas, mix blocks added through it)
    partial_refs = []
    mix = _spilled_signal(run, "mix")
    stems = {strip.name: BlockSignal() for strip in plan.strips if strip.stem}
    previous: dict[str, dict] = {}
    previous_taps: dict[tuple[str, bool], object] = {}
    for start, stop in plan.chunks():
        tracker.check_cancel([ref for _, metas, _ in in_flight for ref in metas])
        outputs: dict[str, dict[str, object]] = {}
        taps: dict[tuple[str, bool], object] = {}
        metas = []

        def inputs(strip) -> list:
            feeds = [outputs[feed.source][strip.name] for feed in strip.feeds]
            keys = [taps[key.tap] for key in strip.keys]
            if strip.first_frame(start) < start:
                feeds = [previous[feed.source][strip.name] for feed in strip.feeds] + feeds
                keys = [previous_taps[key.tap] for key in strip.keys] + keys
            return feeds + keys

        def keep(results: list, targets: list[str], strip_taps, stem_names) -> None:
            taps.update(zip(strip_taps, results[len(targets) : len(targets) + len(strip_taps)]))
            for name, ref in zip(stem_names, results[len(targets) + len(strip_taps) :]):
                run.add_block(stems[name], *tasks.timeline_span(start, stop, plan.strip(name).latency_out, plan.timeline_frames), ref)

        for node in plan.order:
            if node in groups:
                group = groups[node]
                keyed = [plan.strip(name) for name in group.tracks if plan.strip(name).keys]
                blocks = inputs(keyed[0]) if keyed else []
                count = len(group.destinations) + len(group.taps) + len(group.stems)
                refs = run.submit(tasks.tracks_chunk, group.name, start, stop, states[node], *blocks, num_returns=count + 2)
                outputs[node] = dict(zip(group.destinations, refs[: len(group.destinations)]))
                keep(refs[:count], group.destinations, group.taps, group.stems)
                if not group.time_parallel:
                    states[node] = refs[-2]
                metas.append(refs[-1])
                continue
            strip = plan.strip(node)
            if strip.kind == "master":
                block, partial, state, meta = run.submit(tasks.mix_chunk, start, stop, states[node], *inputs(strip), num_returns=4)
                run.add_block(mix, *tasks.timeline_span(start, stop, plan.mix_latency, plan.timeline_frames), block)
                partial_refs.append(partial)
            else:
                targets = destinations(strip)
                strip_taps = [(strip.name, pre_fader) for pre_fader in strip.taps]
                count = len(targets) + len(strip_taps) + strip.stem
                refs = run.submit(tasks.bus_chunk, strip.name, start, stop, states[node], *inputs(strip), num_returns=count + 2)
                outputs[node] = dict(zip(targets, refs[: len(targets)]))
                keep(refs[:count], targets, strip_taps, [strip.name] if strip.stem else [])
                state, meta = refs[-2], refs[-1]
            if not strip.time_parallel:
                states[node] = state
            metas.append(meta)
        previous, previous_taps = outputs, taps
        in_flight.append((partial_refs[-1], metas, len(mix.starts)))
        if len(in_flight) >= run.window:
            oldest, oldest_metas, mix_blocks = in_flight.pop(0)
            run.executor.wait([oldest], 1)
            mix.spill(mix_blocks)
            tracker.audio_s += tracker.audio_s_per_task
            tracker.finished(oldest_metas)
    for _, metas, _ in in_flight:
        tracker.audio_s += tracker.audio_s_per_task
        tracker.finished(metas)
    partials = run.executor.get(partial_refs)
    mix.spill()
    return partials, mix, stems


def _spilled_signal(run: _Run, name: str) -> SpilledSignal:
    """A new signal kept in a file of the work folder, remembering enough blocks put back for the chunks in flight."""
    return SpilledSignal(run.executor, run.workdir / f"{name}-{uuid.uuid4().hex[:8]}.f32", kept=run.window + 2)


def _match(run: _Run, mix: SpilledSignal, reference: list | None) -> tuple[MatchEq, dict]:
    """The matching EQ from the reference's spectrum (its task's refs, ``reference``, or the plan's when known) and the mix's, analysed in chunks; and its report.

    The analysis reads the mix as the loudness stage does, at most
    ``window`` chunks at a time.
    """
    plan, window = run.plan, run.window
    match, rate = plan.loudness.match, plan.sample_rate
    run.tracker.begin("matching the reference")
    submitted: list = []
    for start, stop in plan.chunks(plan.timeline_frames):
        run.tracker.check_cancel([meta for _, meta in submitted[-window:]])
        starts, blocks = mix.covering(start, min(stop + frame_frames(rate), plan.timeline_frames))
        submitted.append(run.submit(tasks.match_chunk, start, stop, starts, *blocks, num_returns=2, reads=(mix, len(blocks))))
        if len(submitted) > window:
            run.executor.wait([submitted[-window - 1][0]], 1)
    powers = FramePowers.concatenate(run.executor.get([powers for powers, _ in submitted]))
    run.tracker.finished([meta for _, meta in submitted] + ([reference[1]] if reference else []))
    mix_spectrum = long_term_spectrum(powers, rate)
    if mix_spectrum is None:
        raise RenderError(f"master.match: the mix is silent (nothing above {SILENCE_DB:g} dBFS): there is nothing to match to {match.written}")
    reference_spectrum = run.executor.get(reference[0]) if reference else match.spectrum
    curve = correction(reference_spectrum, mix_spectrum, match.amount, match.max_gain_db)
    hop_s = hop_frames(rate) / rate
    report = {
        "reference": match.written,
        "amount": match.amount,
        "max_gain_db": match.max_gain_db,
        "loudness_change_db": loudness_change_db(curve, mix_spectrum, rate),
        "analysed_s": {"reference": reference_spectrum.frames * hop_s, "mix": mix_spectrum.frames * hop_s},
        "correction": curve.to_dict(),
    }
    return MatchEq(rate, correction=curve), report


def _master(
    run: _Run, mix: SpilledSignal, mix_report, master_pass: MasterPass, tolerance_lu: float, accept_lu: float, gain_db: float | None = None, lowered: str = ""
):
    """Stage 2: ``master_pass``'s loudness stage, corrected until it lands within ``tolerance_lu``; returns (gain_db, report, max GR dB, passes, the master).

    The first pass has ``gain_db`` (default: the gain that brings the mix's
    loudness to the target). When the passes run out, or the limiter lets
    no more loudness through, the closest pass is kept if it is within
    ``accept_lu``; else RenderError says how loud the mix can be made (and
    why the ceiling was lowered: ``lowered``).
    """
    loudness = run.plan.loudness
    if not loudness.normalises:
        report, _, master = _master_pass(run, mix, master_pass)
        return 0.0, report, None, 1, master
    if loudness.fixed_gain_db is not None:
        report, reduction_db, master = _master_pass(run, mix, master_pass.with_gain(loudness.fixed_gain_db))
        return loudness.fixed_gain_db, report, reduction_db, 1, master
    if not math.isfinite(mix_report.integrated_lufs):
        raise RenderError("the mix is silent (or shorter than 400 ms): there is no loudness to normalise to the target")
    gain_db = loudness.target_lufs - mix_report.integrated_lufs if gain_db is None else gain_db
    landed: list[tuple[float, float]] = []  # (gain dB, loudness LUFS) of each pass
    best = None  # (|error| LU, gain dB, report, max GR dB, passes, master) of the closest pass so far
    for passes in range(1, MAX_LOUDNESS_PASSES + 1):
        report, reduction_db, master = _master_pass(run, mix, master_pass.with_gain(gain_db))
        error_lu = loudness.target_lufs - report.integrated_lufs
        if abs(error_lu) <= tolerance_lu:
            if best is not None:
                best[-1].close()
            return gain_db, report, reduction_db, passes, master
        if best is None or abs(error_lu) < best[0]:
            if best is not None:
                best[-1].close()
            best = (abs(error_lu), gain_db, report, reduction_db, passes, master)
        else:
            master.close()
        landed.append((gain_db, report.integrated_lufs))
        if _limiter_saturated(landed):
            break
        gain_db = _next_gain_db(landed, loudness.target_lufs)
    error_lu, gain_db, report, reduction_db, passes, master = best
    if error_lu <= accept_lu:
        return gain_db, report, reduction_db, passes, master
    master.close()
    ceiling_dbtp = master_pass.limiter.ceiling_dbtp
    loudest = max(lufs for _, lufs in landed)
    if _limiter_saturated(landed) or loudest < loudness.target_lufs:
        raise RenderError(
            f"loudness stage: the limiter cannot bring the mix above {loudest:.2f} LUFS under a {ceiling_dbtp:.2f} dBTP limiter ceiling{lowered} "
            f"(target {loudness.target_lufs:g} LUFS); the mix may be too dense for this target: lower the target or raise the ceiling"
        )
    raise RenderError(
        f"loudness stage: could not land {loudness.target_lufs:g} LUFS under a {ceiling_dbtp:.2f} dBTP limiter ceiling{lowered} in "
        f"{len(landed)} passes (closest {report.integrated_lufs:.2f} LUFS)"
    )


def _limiter_saturated(landed: list[tuple[float, float]]) -> bool:
    """Whether the last pass added at least a dB of gain and the master got no louder for it (the limiter takes it all)."""
    if len(landed) < 2:
        return False
    (gain_a, lufs_a), (gain_b, lufs_b) = landed[-2:]
    return gain_b - gain_a >= 1.0 and lufs_b - lufs_a < SATURATED_LU


def _next_gain_db(landed: list[tuple[float, float]], target_lufs: float) -> float:
    """The gain for the next pass, from each pass's (gain dB, loudness LUFS).

    Loudness rises with gain, ever more slowly as the limiter works harder.
    Once passes lie on both sides of the target, the gain is interpolated
    between the nearest two; until then the last pass steps by its error
    over :func:`_loudness_per_db`, at most :data:`MAX_GAIN_STEP_DB`.
    """
    below = [point for point in landed if point[1] < target_lufs]
    above = [point for point in landed if point[1] > target_lufs]
    if below and above:
        (gain_lo, lufs_lo), (gain_hi, lufs_hi) = max(below), min(above)
        return gain_lo + (target_lufs - lufs_lo) * (gain_hi - gain_lo) / (lufs_hi - lufs_lo)
    gain_db, lufs = landed[-1]
    step_db = (target_lufs - lufs) / _loudness_per_db(landed)
    return gain_db + min(max(step_db, -MAX_GAIN_STEP_DB), MAX_GAIN_STEP_DB)


def _loudness_per_db(landed: list[tuple[float, float]]) -> float:
    """LU of loudness per dB of gain into the limiter, from the last two passes (1 after one pass).

    The harder the limiter works, the less of each dB of gain it lets
    through; the secant through the last two passes finds the gain that
    lands in a pass or two where a step of the error alone would creep up on
    the target. Held to [:data:`MIN_LOUDNESS_PER_DB`, 1].
    """
    if len(landed) < 2 or landed[-1][0] == landed[-2][0]:
        return 1.0
    (gain_a, lufs_a), (gain_b, lufs_b) = landed[-2:]
    return min(max((lufs_b - lufs_a) / (gain_b - gain_a), MIN_LOUDNESS_PER_DB), 1.0)


def _master_pass(run: _Run, mix: SpilledSignal, master_pass: MasterPass):
    """One run of the loudness stage over the whole timeline; returns (report, max gain reduction dB, the master).

    With a pre-roll the chunks run at once; without, each resumes from the
    previous chunk's state. The master's blocks move to the work folder as
    their chunks finish.
    """
    plan, window = run.plan, run.window
    run.tracker.master_passes += 1
    if run.tracker.master_passes > run.tracker.planned_master_passes:
        run.tracker.extend(len(plan.chunks(plan.timeline_frames + master_pass.latency_frames)))
    run.tracker.begin(f"loudness pass {run.tracker.master_passes}" if plan.loudness.normalises else "mastering")
    pass_ref = run.put(master_pass)
    state, partials, states, metas, master_blocks = None, [], [], [], []
    master = _spilled_signal(run, "master")
    for start, stop in plan.chunks(plan.timeline_frames + master_pass.latency_frames):
        run.tracker.check_cancel(metas[-window:])
        carried = state if master_pass.preroll_frames is None else None
        mix_starts, mix_blocks = mix.covering(first_frame(start, master_pass.preroll_frames), stop)
        block, partial, state, meta = run.submit(tasks.master_chunk, pass_ref, start, stop, carried, mix_starts, *mix_blocks, num_returns=4, reads=(mix, len(mix_blocks)))
        run.add_block(master, *tasks.timeline_span(start, stop, master_pass.latency_frames, plan.timeline_frames), block)
        partials.append(partial)
        states.append(state)
        metas.append(meta)
        master_blocks.append(len(master.starts))
        if len(partials) > window:
            run.executor.wait([partials[-window - 1]], 1)
            master.spill(master_blocks[-window - 1])
    report = LoudnessPartial.merge(run.executor.get(partials)).report()
    master.spill()
    limiter_states = [chunk_state["limiter"] for chunk_state in run.executor.get(states)]
    reduction = max(max_gain_reduction_db(limiter_state) for limiter_state in limiter_states) if master_pass.limiter else None
    run.tracker.finished(metas, loudness_pass=run.tracker.master_passes)
    return report, reduction, master


def _deliver(run: _Run, files: list[tuple[DeliverablePlan, BlockSignal, float]], alongside: Callable[[], None] | None = None) -> list[dict]:
    """Stage 3: each file ``(deliverable, the signal it is made from, trim dB)`` in time chunks; returns their facts in order.

    The chunks of all files run ahead of the writing by up to twice the
    window; this process writes each file from its chunks in order
    (:func:`farm.engine.writer.write_deliverable`), each file in a thread
    of its own fed through a short queue, so one file's encoding, decoding
    and metering go on while the next file's chunks arrive. ``alongside``,
    if given, runs in a thread of its own meanwhile; its error is raised as
    a file's is.
    """
    plan = run.plan
    run.tracker.check_cancel([])
    if files:
        names = [deliverable.path for deliverable, _, _ in files]
        run.tracker.begin(f"writing {', '.join(names)}" if len(names) <= 2 else f"writing {len(names)} files")
    jobs = [
        (deliverable, signal, trim_db, start, min(start + deliverable.grid_frames, plan.timeline_frames))
        for deliverable, signal, trim_db in files
        for start in range(0, plan.timeline_frames, deliverable.grid_frames)
    ]
    submitted: list[tuple[object, object, object]] = []

    def submit_up_to(count: int) -> None:
        while len(submitted) < min(count, len(jobs)):
            deliverable, signal, trim_db, start, stop = jobs[len(submitted)]
            starts, blocks = signal.covering(*tasks.delivery_read_span(plan, deliverable, start, stop))
            submitted.append(run.submit(tasks.deliver_chunk, deliverable.index, trim_db, start, stop, starts, *blocks, num_returns=3, reads=(signal, len(blocks))))

    lookahead = 2 * run.window

    def results(first: int, count: int):
        """Chunks ``first`` to ``first + count - 1``: each one's (samples, loudness partial), in order, submitting ahead."""
        for position in range(first, first + count):
            submit_up_to(position + 1 + lookahead)
            samples_ref, partial_ref, meta_ref = submitted[position]
            chunk = run.executor.get([samples_ref, partial_ref])
            submitted[position] = (None, None, None)
            run.tracker.finished([meta_ref])
            run.tracker.check_cancel([])
            yield chunk

    writing, taken = [], 0
    with concurrent.futures.ThreadPoolExecutor((min(len(files), MAX_WRITER_THREADS) or 1) + (alongside is not None), thread_name_prefix="mixfarm-writer") as pool:
        beside = pool.submit(alongside) if alongside else None
        try:
            for deliverable, _, trim_db in files:
                count = len(range(0, plan.timeline_frames, deliverable.grid_frames))
                feed = ChunkFeed(QUEUED_CHUNKS_PER_FILE)
                written = pool.submit(write_deliverable, deliverable, run.workdir / "out" / deliverable.path, feed, trim_db)
                writing.append((deliverable, feed, written))
                for chunk in results(taken, count):
                    feed.put(chunk, written)
                feed.close(written)
                taken += count
            facts = [written.result() for _, _, written in writing]
            if beside is not None:
                beside.result()
        except BaseException:
            for _, feed, _ in writing:
                feed.abort()
            raise
    return [item if deliverable.strip is None else {**item, "stem": deliverable.strip} for (deliverable, _, _), item in zip(writing, facts)]


def _published(report: dict) -> list[str]:
    """The files a render made besides report.json: its deliverables, then the copy of its mix bus when it kept one."""
    return [item["path"] for item in report["deliverables"]] + ([report["mix"]["path"]] if report.get("mix") else [])


def _publish(workdir: Path, out_dir: Path, report: dict) -> None:
    """Move finished outputs into place, then write report.json."""
    for name in _published(report):
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(workdir / "out" / name, target)
    partial = out_dir / ".report.json.partial"
    partial.write_text(json.dumps(report, indent=2, allow_nan=False))
    os.replace(partial, out_dir / "report.json")


