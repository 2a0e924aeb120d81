"""A revision through the render cache: a session rendered, then again with one fader moved 1 dB, and with only the loudness target changed.

It writes the synthetic session of ``render_session.py`` (``--tracks`` x
``--minutes``, default 24 x 4: every track with eq and a compressor, a fader,
a pan and a send to a delay bus; a master compressor and the loudness stage)
into a temporary folder, then renders in this process (``LocalExecutor``, a
thread per CPU; numba's caches loaded by a small render first):

1. the session with an empty cache (``first``);
2. the session with track 0's fader 1 dB lower, through the same cache (``fader``);
3. that revision with the loudness target 2 LU lower (``target``);
4. the session from scratch, no cache (``no cache``), the peer of ``first``.

For each it prints the wall time, this process's user and system CPU
seconds (system time is the kernel's: reading and writing the entries), its
ratio to the first render, the tasks read back from the cache over all tasks
(the hit rate), and the cache's size on disk; with ``--repeats`` it does it
all again from an empty cache and ends with the median ratios. Each revision is checked to be bit-identical to a ``--no-cache``
render of the same revision (its wall time printed beside it). Goals: the
fader revision at most 15 % of the first render's time, the target change
at most 10 %.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_session import Size, build_session  # noqa: E402

from farm.engine.allocator import retain_freed_memory  # noqa: E402
from farm.engine.chunkcache import ChunkCache  # noqa: E402
from farm.engine.executor import LocalExecutor  # noqa: E402
from farm.engine.render import render  # noqa: E402


def rendered(session: Path, out: Path, cache: ChunkCache | None, chunk_s: float) -> tuple[float, float, float, dict]:
    """Render ``session``: its wall seconds, this process's user and system CPU seconds over it, and its report."""
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    report = render(session, out, chunk_s=chunk_s, executor=LocalExecutor(), cache=cache)
    wall_s, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    return wall_s, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, report


def revised(session: Path, name: str, change) -> Path:
    """A copy of ``session`` beside it with ``change`` applied to its document."""
    document = yaml.safe_load(session.read_text())
    change(document)
    path = session.with_name(name)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / "master.wav").read_bytes()).hexdigest()


def hit_rate(report: dict) -> str:
    hits, misses = sum(report["cache"]["hits"].values()), sum(report["cache"]["misses"].values())
    return f"{hits}/{hits + misses} ({100 * hits / max(hits + misses, 1):.0f} %)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=24)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--chunk-s", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=1, help="render it all this many times, each from an empty cache; the summary gives medians")
    parser.add_argument("--folder", default=None, help="where to write the session and cache (default: a temporary folder, removed after)")
    parser.add_argument(
        "--cache-dir", default=None, help="where the cache lies (default: in --folder); /dev/shm measures the engine apart from the disk's write speed"
    )
    args = parser.parse_args()
    retain_freed_memory()
    folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="mixfarm-revision-"))
    cache_dir = Path(args.cache_dir) / f"mixfarm-revision-cache-{os.getpid()}" if args.cache_dir else folder / "cache"
    try:
        session, _ = build_session(folder / "song", Size(args.tracks, args.minutes))
        warm, _ = build_session(folder / "warm", Size(2, 0.1))
        render(warm, folder / "warm-out", executor=LocalExecutor())
        fader = revised(session, "fader.yaml", lambda doc: doc["tracks"][0].update(gain_db=doc["tracks"][0]["gain_db"] - 1.0))
        target = revised(fader, "target.yaml", lambda doc: doc["master"]["loudness"].update(target_lufs=doc["master"]["loudness"]["target_lufs"] - 2.0))
        print(f"{args.tracks} tracks x {args.minutes:g} min, chunks of {args.chunk_s:g} s, {LocalExecutor().cluster()['cpus']:g} CPUs, cache in {cache_dir}")
        print(f"{'run':>3s} {'render':10s} {'wall s':>8s} {'user s':>7s} {'sys s':>6s} {'of first':>9s} {'reused':>16s} {'cache MB':>9s}  {'no-cache s':>10s}  identical")
        ratios: dict[str, list[float]] = {"fader": [], "target": [], "no cache": []}
        for run in range(1, args.repeats + 1):
            shutil.rmtree(cache_dir, ignore_errors=True)
            cache = ChunkCache(cache_dir)
            first_s, user_s, sys_s, report = rendered(session, folder / "first", cache, args.chunk_s)
            print(f"{run:3d} {'first':10s} {first_s:8.2f} {user_s:7.1f} {sys_s:6.1f} {'100 %':>9s} {hit_rate(report):>16s} {cache.size_bytes() / 1e6:9.0f}")
            for label, path in (("fader", fader), ("target", target)):
                wall_s, user_s, sys_s, report = rendered(path, folder / label, cache, args.chunk_s)
                fresh_s, *_ = rendered(path, folder / f"{label}-fresh", None, args.chunk_s)
                same = digest(folder / label) == digest(folder / f"{label}-fresh")
                ratios[label].append(wall_s / first_s)
                print(
                    f"{run:3d} {label:10s} {wall_s:8.2f} {user_s:7.1f} {sys_s:6.1f} {100 * wall_s / first_s:7.1f} % {hit_rate(report):>16s} "
                    f"{cache.size_bytes() / 1e6:9.0f}  {fresh_s:10.2f}  {'yes' if same else 'NO'}"
                )
            scratch_s, user_s, sys_s, _ = rendered(session, folder / "scratch", None, args.chunk_s)
            ratios["no cache"].append(scratch_s / first_s)
            print(f"{run:3d} {'no cache':10s} {scratch_s:8.2f} {user_s:7.1f} {sys_s:6.1f} {100 * scratch_s / first_s:7.1f} %  (the first render's peer: the cost of writing the cache is first - this)")
        print("median of the first render's time: " + ", ".join(f"{label} {100 * statistics.median(values):.1f} %" for label, values in ratios.items()))
    finally:
        if args.cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
