"""``mixfarm render`` and ``mixfarm demo``: render a session, or synthesise the demo and render it.

The session is loaded and compiled, with every check, before an executor
starts, so a bad session fails in a moment without starting Ray. The
executor is chosen by :func:`farm.engine.executor.choose_executor`, and the
report says which and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from farm.engine.chunkcache import DEFAULT_LIMIT_BYTES, ChunkCache
from farm.engine.plan import DEFAULT_CHUNK_S
from farm.storage import Location

from .options import add_max_duration, max_duration
from .progress import ProgressBar

CACHE_VARIABLE = "MIXFARM_CACHE"

if TYPE_CHECKING:
    from . import Commands


def render(args: argparse.Namespace) -> int:
    """Render the session into ``--output`` (default: ``render/`` beside the session file)."""
    out_dir = args.output or str(Location.of(args.session).parent.joinpath("render"))
    render_and_print(args.session, out_dir, args)
    return 0


def demo(args: argparse.Namespace) -> int:
    """Write the demo session and its stems into the folder, then render it into ``render/`` there."""
    from farm.demo import write_demo

    folder = Path(args.folder)
    session_path = write_demo(folder)
    if not args.json:
        print(f"demo session written: {session_path}")
    render_and_print(str(session_path), str(folder / "render"), args)
    return 0


def render_and_print(session_path: str, out_dir: str, args: argparse.Namespace, print_json: bool = True) -> dict:
    """Load and compile (cheap checks first), then render; print the report as text or JSON and return it.

    With ``--json`` and ``print_json`` False nothing is printed (the caller prints the reports).
    """
    from farm.album import is_album
    from farm.engine.allocator import retain_freed_memory
    from farm.engine.executor import choose_executor
    from farm.engine.plan import compile_plan
    from farm.engine.render import render_plan
    from farm.session import load, read_document

    started = time.perf_counter()
    retain_freed_memory()
    if is_album(read_document(Location.of(session_path))):
        return render_album_and_print(session_path, out_dir, args, started, print_json)
    loaded = load(session_path, max_duration_s=max_duration(args))
    plan = compile_plan(loaded, args.chunk_s)
    bar = ProgressBar(sys.stderr, started) if sys.stderr.isatty() and not args.json else None
    choice = choose_executor(args.executor, args.address)
    with ending_line(bar):
        report = render_plan(
            loaded, plan, out_dir, executor=choice.build(), progress=bar, started=started, executor_reason=choice.reason, cache=render_cache(args)
        )
    if bar:
        bar.finish(report["wall_s"], report["realtime_factor"])
    if args.json:
        if print_json:
            print(json.dumps(report, indent=2))
        return report
    output = report["output"]
    print(f"rendered {report['session']!r}: {report['duration_s']:.1f} s in {report['wall_s']:.1f} s ({report['realtime_factor']:.1f}x realtime)")
    print(f"  executor: {report['executor']} ({report['executor_reason']})")
    if report["cache"] is not None:
        print(f"  cache: {cache_summary(report['cache'])}")
    loudness = output["integrated_lufs"]
    print(f"  master: {loudness:.2f} LUFS, true peak {output['true_peak_dbtp']:.2f} dBTP" if loudness is not None else "  master: silent")
    for item in report["deliverables"]:
        print(f"  {out_dir.rstrip('/')}/{item['path']}  ({item['format']}, {encoding(item)}, {item['sample_rate']} Hz)")
    if report.get("mix"):
        print(f"  {out_dir.rstrip('/')}/{report['mix']['path']}  (the mix bus before mastering, for listening)")
    print(f"  {out_dir.rstrip('/')}/report.json")
    return report


def render_album_and_print(album_path: str, out_dir: str, args: argparse.Namespace, started: float, print_json: bool = True) -> dict:
    """Load the album (every song checked first), then render it; print its report as text or JSON and return it."""
    from farm.album import load_album, render_album
    from farm.engine.executor import choose_executor


    loaded = load_album(album_path, max_duration_s=max_duration(args))
    bar = ProgressBar(sys.stderr, started) if sys.stderr.isatty() and not args.json else None
    choice = choose_executor(args.executor, args.address)
    with ending_line(bar):
        report = render_album(
            album_path,
            out_dir,
            chunk_s=args.chunk_s,
            executor=choice.build(),
            progress=bar,
            loaded=loaded,
            started=started,
            executor_reason=choice.reason,
            cache=render_cache(args),
        )
    if bar:
        bar.finish(report["wall_s"], report["realtime_factor"])
    if args.json:
        if print_json:
            print(json.dumps(report, indent=2))
        return report
    print(f"rendered album {report['album']!r}: {report['duration_s']:.1f} s in {report['wall_s']:.1f} s ({report['realtime_factor']:.1f}x realtime)")
    print(f"  executor: {report['executor']} ({report['executor_reason']})")
    if report["cache"] is not None:
        print(f"  cache: {cache_summary(report['cache'])}")
    for song in report["songs"]:
        level = "silent" if song["integrated_lufs"] is None else f"{song['integrated_lufs']:.2f} LUFS, true peak {song['true_peak_dbtp']:.2f} dBTP"
        print(f"  {song['index']:2d}. {song['title']}  at {song['start_s']:.2f} s, {song['duration_s']:.1f} s: {level}")
    for item in report["deliverables"]:
        detail = "cue sheet" if item["format"] == "cue" else f"{item['format']}, {encoding(item)}, {item['sample_rate']} Hz"
        print(f"  {out_dir.rstrip('/')}/{item['path']}  ({detail})")
    print(f"  {out_dir.rstrip('/')}/report.json")
    return report


@contextlib.contextmanager
def ending_line(bar: ProgressBar | None):
    """Around a render drawing ``bar``: end its line if the render fails, so the error starts on a line of its own."""
    try:
        yield
    except BaseException:
        if bar:
            bar.close()
        raise


def render_cache(args: argparse.Namespace) -> ChunkCache | None:
    """The cache a render uses: ``--cache`` (a folder or a storage URI), else ``$MIXFARM_CACHE``; None with ``--no-cache`` or neither."""
    where = args.cache or os.environ.get(CACHE_VARIABLE)
    if args.no_cache or not where:
        return None
    return ChunkCache(where, round(args.cache_limit_gb * 1000**3))


def cache_summary(counts: dict) -> str:
    """``12 of 80 tasks reused (tracks 10/60, mix 2/6)``: hits of all cached task kinds; or why the cache was not used."""
    if "error" in counts:
        return f"not used: {counts['error']}"
    kinds = sorted(set(counts["hits"]) | set(counts["misses"]))
    hits = sum(counts["hits"].values())
    total = hits + sum(counts["misses"].values())
    detail = ", ".join(f"{kind} {counts['hits'].get(kind, 0)}/{counts['hits'].get(kind, 0) + counts['misses'].get(kind, 0)}" for kind in kinds)
    return f"{hits} of {total} tasks reused" + (f" ({detail})" if detail else "")


def positive_gigabytes(text: str) -> float:
    """An argparse type: a size in GB, a finite number > 0."""
    value = float(text)
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of GB > 0, got {text!r}")
    return value


def encoding(deliverable: dict) -> str:
    """A deliverable's encoding in words: its bitrate, or its bit depth."""
    if deliverable.get("bitrate_kbps"):
        return f"{deliverable['bitrate_kbps']} kbit/s"
    return "32-bit float" if deliverable["bit_depth"] == "32f" else f"{deliverable['bit_depth']}-bit"


def chunk_seconds(text: str) -> float:
    """An argparse type: a chunk length, a finite number of seconds above 0."""
    seconds = float(text)
    if not (0 < seconds < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return seconds


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """The options every rendering command takes."""
    add_max_duration(parser)
    parser.add_argument(
        "--chunk-s", type=chunk_seconds, default=DEFAULT_CHUNK_S, help=f"time-chunk length in seconds (default {DEFAULT_CHUNK_S:g}); longer than the song renders in one pass"
    )
    parser.add_argument("--address", default=None, help="Ray cluster to run on (default: $RAY_ADDRESS, else one `ray start` runs on this machine)")
    parser.add_argument(
        "--executor",
        choices=("auto", "ray", "local"),
        default="auto",
        help="auto (default): Ray when there is a cluster to run on (--address, $RAY_ADDRESS or one running here), else this process "
        "on threads; ray: Ray, starting a cluster on this machine when there is none; local: this process",
    )
    parser.add_argument(
        "--cache",
        default=None,
        metavar="DIR|URI",
        help=f"keep each task's results in this folder, or in object storage (s3://bucket/prefix: every node of a cluster reaches it), and "
        f"reuse those whose inputs did not change, so a revision renders only what it changed (default: ${CACHE_VARIABLE} if set, else no cache)",
    )
    parser.add_argument("--no-cache", action="store_true", help=f"render everything from scratch, reading and writing no cache (even with ${CACHE_VARIABLE} set)")
    parser.add_argument(
        "--cache-limit-gb", type=positive_gigabytes, default=DEFAULT_LIMIT_BYTES / 1000**3, help="the most the cache may hold (default %(default)g GB); the least recently used results go first"
    )
    parser.add_argument("--json", action="store_true", help="print the render report as JSON on stdout")


def register(commands: Commands) -> None:
    """Add ``render`` and ``demo``."""
    parser = commands.add("render", render, help="render a session to its deliverables and report.json")
    parser.add_argument("session", help="session file (YAML or JSON): a path or a storage URI such as s3://bucket/song/session.yaml")
    parser.add_argument("-o", "--output", help="output folder, a path or URI (default: render/ beside the session file)")
    add_render_options(parser)

    parser = commands.add("demo", demo, help="synthesise a demo session and render it")
    parser.add_argument("folder", nargs="?", default="mixfarm-demo", help="where to write it (default ./mixfarm-demo)")
    add_render_options(parser)
