"""Strong scaling of whole-session renders: wall time, speedup and parallel efficiency as Ray gets more CPUs.

Two synthetic sessions are rendered again and again on a local Ray cluster
started with ``ray.init(num_cpus=N)``, for N = 1, 2, 4, ... up to ``--max-cpus``
(the last step is ``--max-cpus`` itself when it is not a power of two):

(a) **32 tracks** x ``--minutes-32`` minutes (default 2): plenty of tracks, so
    the mixing stage has 32 independent track tasks per time chunk;
(b) **4 tracks** x ``--minutes-4`` minutes (default 20): few tracks and many
    chunks, so it scales only as far as time-chunking does.

Stems are made deterministically with numpy (a decaying tone on a beat plus
lowpassed noise; even tracks stereo, odd tracks mono), 48 kHz, 24-bit WAV.
Every track runs ``eq`` (highpass 80 Hz and a bell) and ``compressor``, has a
fader and a pan, and sends post-fader to a ``verb`` bus running ``reverb``; the
master runs a ``compressor`` and the loudness stage (-14 LUFS, -1 dBTP) and
delivers one 24-bit WAV with TPDF dither. Chunks are ``--chunk-s`` long:
10 s by default, half the engine's default, as a render that wants one song
spread over many CPUs would ask for (longer chunks cost less CPU per song but
give each stage fewer tasks to spread: on a 2-core machine the task seconds of
the 32-track session allowed 12.3x at 16 CPUs with 20 s chunks, 14.6x with 10 s).

For each N, Ray is restarted (``ray.shutdown()``; ``ray.init(num_cpus=N,
include_dashboard=False)``), each session is rendered once to warm up (worker
processes start, numba loads its caches) and then ``--repeats`` times; the
median wall time is reported, with speedup = wall(N=1) / wall(N) and parallel
efficiency = speedup / N. Every render's master file is hashed: the outputs
must be identical whatever N (the table says whether they were).

Below each table come the seconds spent in tasks by kind at 1 CPU (from the
``meta`` of each task) and the speedup they allow at 2, 4, 8 and 16 CPUs, a
bound that leaves Ray's and the driver's overheads out: work / the sum over
the stages (mixing, each loudness pass, delivery) of max(the stage's work / N,
its longest chain). The longest chain of the mixing stage is the strip that
carries its state from chunk to chunk (its chunks run in sequence) with the
most seconds; of a loudness pass, one chunk; of delivery, one chunk (the driver
writes each file as its chunks arrive, which the bound leaves out). It is how a run
on a small machine says something about a big one.

What to expect, and why
-----------------------
The goal is 85 % parallel efficiency at 16 CPUs for both sessions.

The compiler gives every strip whose effects settle within a chunk a
pre-roll (``farm.engine.plan``; see "How chunks stay exact" in docs/architecture.md):
its chunks start from silence a little early and run at once, so the 4-track
session spreads over as many CPUs as it has chunks in flight, not only over
its tracks. Here every strip pre-rolls at 10 s chunks (the tracks' EQ and
compressor about 1.8 s, the reverb bus and the master's sum about 3.7 s), at
the price of that much extra work per chunk, which a 1-CPU render pays too
(so it does not lower the efficiency figures, only every wall time). The loudness
stage's passes run their chunks at once with the limiter's pre-roll, and each
deliverable is resampled, dithered and metered in chunks at once, and the
chunks of a 16 or 24-bit WAV or AIFF (as here) write their own frames into
the file; FLAC, float and shaped dither are written by one task per file.
What does not scale: the barriers between stages (each loudness pass waits
for the whole timeline), moving chunks through Ray's object store, and the
driver's own work.

Running it
----------
Here (2 cores): the full sizes take a while (1 and 2 CPUs, 4 renders of each
session per N); check it first with small sessions::

    python benchmarks/scaling.py --max-cpus 2 --minutes-32 0.5 --minutes-4 2 --repeats 1
    python benchmarks/scaling.py --max-cpus 2

On a 16-core machine (N = 1, 2, 4, 8, 16)::

    python benchmarks/scaling.py                 # --max-cpus defaults to os.cpu_count()
    python benchmarks/scaling.py --chunk-s 5     # more, shorter chunks

Stems go to a temporary folder (32 x 2 min and 4 x 20 min at 24 bits are
about 0.8 and 1.4 GB), which is removed at the end unless ``--keep``. On a
machine with fewer physical cores than N the figures measure oversubscription,
not scaling: hyperthreads count in ``os.cpu_count()``. The driver, Ray's
raylet and GCS also take some CPU, so N = ``os.cpu_count()`` reads a little
low. The header prints the load average: other load on the machine distorts
every figure.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray
import yaml
from render_session import RATE, write_stem

from farm.engine.executor import RayExecutor
from farm.engine.render import render

"""Brings the lowpassed noise to about the tone's level."""
SEND_DB = -12.0
TRACK_COMPRESSOR = {"threshold_db": -24.0, "ratio": 3.0, "attack_s": 0.01, "release_s": 0.1}
MASTER_COMPRESSOR = {"threshold_db": -10.0, "ratio": 2.0, "attack_s": 0.02, "release_s": 0.2}
REVERB = {"decay_s": 1.8, "predelay_s": 0.02, "mix": 1.0}
TARGET = {"target_lufs": -14.0, "true_peak_dbtp": -1.0}
GOAL_CPUS = 16
GOAL_EFFICIENCY = 0.85


@dataclasses.dataclass(frozen=True)
class SessionSize:
    tracks: int
    minutes: float

    @property
    def label(self) -> str:
        return f"{self.tracks} tracks x {self.minutes:g} min"

    @property
    def slug(self) -> str:
        return f"{self.tracks}x{self.minutes:g}"


@dataclasses.dataclass
class Result:
    """The renders of one session at one CPU count."""

    cpus: int
    walls: list[float]
    tasks: int
    chunks: int
    audio_s: float
    digests: set[str]
    metas: list[dict] = dataclasses.field(default_factory=list)
    """The meta of every task of the last timed render."""
    report: dict = dataclasses.field(default_factory=dict)
    """The last timed render's report."""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)


def cpu_counts(max_cpus: int) -> list[int]:
    """1, 2, 4, ... up to ``max_cpus``, ending with ``max_cpus`` itself."""
    counts, n = [], 1
    while n < max_cpus:
        counts.append(n)
        n *= 2
    return counts + [max_cpus]


def session_document(size: SessionSize) -> dict:
    """The session file: eq + compressor, fader, pan and a reverb send on every track; master compressor and loudness stage."""
    tracks = [
        {
            "name": f"track{index:02d}",
            "file": f"stems/track{index:02d}.wav",
            "fx": [
                {
                    "type": "eq",
                    "bands": [
                        {"kind": "highpass", "freq_hz": 80.0},
                        {"kind": "bell", "freq_hz": 250.0 * 2 ** (index % 5), "gain_db": 3.0 if index % 2 else -3.0, "q": 1.0},
                    ],
                },
                {"type": "compressor", **TRACK_COMPRESSOR},
            ],
            "gain_db": -3.0 - 1.5 * (index % 4),
            "pan": round(math.sin(2.4 * index), 2),
            "sends": [{"bus": "verb", "level_db": SEND_DB}],
        }
        for index in range(size.tracks)
    ]
    return {
        "format": "mixfarm/1",
        "name": f"scaling {size.slug}",
        "sample_rate": RATE,
        "tracks": tracks,
        "buses": [{"name": "verb", "fx": [{"type": "reverb", **REVERB}]}],
        "master": {"fx": [{"type": "compressor", **MASTER_COMPRESSOR}], "loudness": TARGET, "tail_s": 2.0},
        "outputs": [{"path": "master.wav", "format": "wav", "bit_depth": 24, "dither": "tpdf"}],
    }


def build_session(folder: Path, size: SessionSize) -> Path:
    """Write the stems and session.yaml of ``size`` into ``folder``; return the session's path."""
    (folder / "stems").mkdir(parents=True)
    frames = int(round(size.minutes * 60.0 * RATE))
    for index in range(size.tracks):
        write_stem(folder / "stems" / f"track{index:02d}.wav", index, 2 if index % 2 == 0 else 1, frames)
    path = folder / "session.yaml"
    path.write_text(yaml.safe_dump(session_document(size), sort_keys=False))
    return path


def start_ray(cpus: int) -> RayExecutor:
    """A fresh local Ray cluster with ``cpus`` CPUs."""
    ray.shutdown()
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    return RayExecutor()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def render_once(executor: RayExecutor, session: Path, out: Path, chunk_s: float, keep: bool) -> tuple[float, dict, str, list[dict]]:
    """One render: (wall seconds, report, sha256 of the master file, the meta of every task)."""
    metas: list[dict] = []
    started = time.perf_counter()
    report = render(session, out, chunk_s=chunk_s, executor=executor, on_tasks=metas.extend)
    wall = time.perf_counter() - started
    digest = file_digest(out / report["deliverables"][0]["path"])
    if not keep:
        shutil.rmtree(out)
    return wall, report, digest, metas


def measure(executor: RayExecutor, cpus: int, session: Path, outs: Path, chunk_s: float, repeats: int, keep: bool) -> Result:
    """A warm-up render, then ``repeats`` timed ones."""
    _, report, digest, _ = render_once(executor, session, outs / f"n{cpus}-warm-up", chunk_s, keep)
    result = Result(cpus, [], report["tasks"], report["chunks"], report["duration_s"], {digest})
    for repeat in range(repeats):
        wall, report, digest, metas = render_once(executor, session, outs / f"n{cpus}-r{repeat}", chunk_s, keep)
        result.walls.append(wall)
        result.digests.add(digest)
        result.metas, result.report = metas, report
    return result


def stages(metas: list[dict], report: dict) -> dict[str, tuple[float, float]]:
    """Each stage's (work, longest chain) in task seconds; see the module's docstring."""
    by_kind: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
    by_strip: collections.Counter = collections.Counter()
    for meta in metas:
        by_kind[meta["kind"]].append(meta["seconds"])
        if "strip" in meta:
            by_strip[meta["strip"]] += meta["seconds"]
    carried = [name for name, preroll_s in report["time_chunking"]["preroll_s"].items() if preroll_s is None]
    chunk_task_s = max((seconds for kind in ("track", "bus", "mix") for seconds in by_kind[kind]), default=0.0)
    result = {"mixing": (sum(by_strip.values()), max([by_strip[name] for name in carried] + [chunk_task_s]))}
    passes = report["loudness_passes"]
    master = by_kind["master"]
    for index in range(passes):
        work = sum(master) / passes
        result[f"loudness pass {index + 1}"] = (work, max(master) if report["time_chunking"]["loudness_stage_preroll_s"] is not None else work)
    deliver = by_kind["deliver"]
    result["delivery"] = (sum(deliver), max(deliver, default=0.0))
    return result


def speedup_bound(parts: dict[str, tuple[float, float]], cpus: float) -> float:
    """The most speedup ``cpus`` CPUs could give: work / sum over stages of max(work / cpus, longest chain)."""
    work = sum(stage_work for stage_work, _ in parts.values())
    return work / sum(max(stage_work / cpus, chain) for stage_work, chain in parts.values())


def print_bounds(result: Result) -> None:
    """Where the time goes at ``result.cpus`` CPUs, and what that allows at more CPUs."""
    kinds = collections.Counter()
    for meta in result.metas:
        kinds[meta["kind"]] += meta["seconds"]
    parts = stages(result.metas, result.report)
    work = sum(kinds.values())
    listed = ", ".join(f"{kind} {seconds:.2f}" for kind, seconds in kinds.most_common())
    print(f"task seconds at {result.cpus} CPU(s): {listed} (work {work:.2f} s; wall {result.walls[-1]:.2f} s)")
    print("  stages, work / longest chain in s: " + ", ".join(f"{name} {stage_work:.2f} / {chain:.2f}" for name, (stage_work, chain) in parts.items()))
    bounds = ", ".join(f"{cpus}: {speedup_bound(parts, cpus):.1f}x" for cpus in (2, 4, 8, GOAL_CPUS))
    print(f"  so, at most (overheads left out): {bounds}, any: {speedup_bound(parts, math.inf):.1f}x")


def print_table(size: SessionSize, results: list[Result], chunk_s: float) -> None:
    base = results[0].wall if results and results[0].cpus == 1 else None
    first = results[0]
    print(f"\n{size.label} ({first.audio_s:.0f} s of audio, {first.chunks} chunks of {chunk_s:g} s, {first.tasks} tasks per render)")
    print(f"{'CPUs':>5} {'wall s':>9} {'min-max s':>15} {'speedup':>8} {'efficiency':>11} {'realtime':>9}")
    for result in results:
        spread = f"{min(result.walls):.2f}-{max(result.walls):.2f}"
        speedup = base / result.wall if base else math.nan
        efficiency = speedup / result.cpus
        print(
            f"{result.cpus:>5} {result.wall:>9.2f} {spread:>15} {speedup:>7.2f}x {efficiency:>10.0%} "
            f"{result.audio_s / result.wall:>8.1f}x"
        )
    digests = set().union(*(result.digests for result in results))
    print(f"identical master file at every CPU count and repeat: {'yes' if len(digests) == 1 else f'NO ({len(digests)} different)'}")
    at_goal = next((result for result in results if result.cpus == GOAL_CPUS), None)
    if at_goal and base:
        efficiency = base / at_goal.wall / GOAL_CPUS
        verdict = "met" if efficiency >= GOAL_EFFICIENCY else "missed"
        print(f"goal {GOAL_EFFICIENCY:.0%} efficiency at {GOAL_CPUS} CPUs: {verdict} ({efficiency:.0%})")
    else:
        print(f"goal {GOAL_EFFICIENCY:.0%} efficiency at {GOAL_CPUS} CPUs: not measured here (up to {results[-1].cpus} CPUs)")
    print_bounds(results[0])


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number above 0")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-cpus", type=positive_int, default=os.cpu_count() or 1, help="largest Ray CPU count (default: os.cpu_count(), here %(default)s)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed renders per session and CPU count, after one warm-up (default %(default)s)")
    parser.add_argument("--chunk-s", type=positive_float, default=10.0, help="chunk length in seconds (default %(default)s)")
    parser.add_argument("--minutes-32", type=positive_float, default=2.0, help="length of the 32-track session (default %(default)s)")
    parser.add_argument("--minutes-4", type=positive_float, default=20.0, help="length of the 4-track session (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the stems and every render's output (the folder is printed)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [SessionSize(32, args.minutes_32), SessionSize(4, args.minutes_4)]
    counts = cpu_counts(args.max_cpus)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"mixfarm scaling: {platform.machine()}, {os.cpu_count()} CPUs seen, load average {load}; Ray {ray.__version__}; "
        f"CPU counts {counts}; chunk {args.chunk_s:g} s; median of {args.repeats} after 1 warm-up",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="mixfarm-scaling-"))
    try:
        sessions = {}
        for size in sizes:
            started = time.perf_counter()
            sessions[size] = build_session(root / size.slug, size)
            print(f"wrote {size.label} in {time.perf_counter() - started:.1f} s", flush=True)
        results: dict[SessionSize, list[Result]] = {size: [] for size in sizes}
        for cpus in counts:
            executor = start_ray(cpus)
            try:
                for size in sizes:
                    result = measure(executor, cpus, sessions[size], root / size.slug / "out", args.chunk_s, args.repeats, args.keep)
                    results[size].append(result)
                    walls = ", ".join(f"{wall:.2f}" for wall in result.walls)
                    print(f"  {cpus:>3} CPUs, {size.label}: {walls} s", flush=True)
            finally:
                ray.shutdown()
        for size in sizes:
            print_table(size, results[size], args.chunk_s)
    finally:
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
