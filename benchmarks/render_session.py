"""Wall and CPU time, realtime factor and peak memory of whole-session renders, beside ffmpeg.

For each size ``TRACKSxMINUTES`` it writes a synthetic session into a temporary
folder: 48 kHz stems as 24-bit WAV (even tracks stereo, odd tracks mono; tonal
and noisy material made deterministically with numpy) and a ``session.yaml``
where every track runs ``eq`` (highpass 80 Hz + bell) and ``compressor``, has a
fader, a pan and a send to a ``verb`` bus whose effect is a feedback ``delay``;
the master runs a ``compressor`` and the loudness stage (-14 LUFS, -1 dBTP) and
writes one 24-bit ``master.wav``.

mixfarm renders each session on one warm local Ray cluster (started once; a
small warm-up render first loads numba's caches into the workers). Meanwhile a
background thread samples the memory of this process and all its descendants
(the Ray driver, GCS, raylet, workers) from /proc, RSS every 50 ms, PSS and
Ray's object store usage every 0.5 s; the peaks are reported. RSS counts a
page once per process that maps it (the object store's pages in every worker
that reads them); PSS splits shared pages between those processes and is the
fairer sum. CPU seconds (user + system, of every process in the tree, less
the sampler's own) are printed beside wall seconds: on a shared machine they
move less with other load.

ffmpeg renders the same session with the equivalent filtergraph: per track
highpass, equalizer, acompressor, volume, pan, split into dry and send; the
sends summed through aecho (taps at the delay's repeats, as aecho does not feed
back); everything summed, then acompressor and alimiter, written as 24-bit WAV.
The routing, gains and pan laws match: with the compressors' thresholds at
0 dB both mixes measure the same integrated loudness (within 0.001 LU);
acompressor's detector and smoothing differ from mixfarm's, so the compressed
mixes do not null.
ffmpeg does no two-pass loudness normalisation, so it does less work than
mixfarm, which measures the mix, then runs the master stage over it (again if
limiting moved the loudness) and re-measures the written file; ffmpeg is the
nearest peer, not an equal. The ratio is ffmpeg wall / mixfarm wall (above 1:
mixfarm is faster).

With ``--repeats`` above 1, walls are medians and memory the highest peak.
``--memory-check`` renders 8 tracks of 2 and of 8 minutes, 3 times each, and
compares their peaks: with time-chunked rendering they should not grow with
session length. (The object store keeps the shared-memory pages it has
touched, so the first render after a start reads lower; repeats even that out.)
Linux only (reads /proc); needs ``ffmpeg`` on the PATH.

    python benchmarks/render_session.py                       # 16 x 3 min
    python benchmarks/render_session.py --sessions 4x0.5      # quick
    python benchmarks/render_session.py --sessions 16x3,32x10 --chunk-s 10
    python benchmarks/render_session.py --memory-check
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile
import yaml

from dsp.pan import balance_gains, constant_power_gains
from farm.engine.executor import RayExecutor
from farm.engine.render import render

RATE = 48000
BLOCK_FRAMES = 1 << 18
STEM_LEVEL = 0.1
NOISE_GAIN = 4.0
"""Brings the lowpassed noise to about the tone's level."""
HIGHPASS_HZ = 80.0
BELL_Q = 1.0
SEND_DB = -12.0
TRACK_COMPRESSOR = {"threshold_db": -24.0, "ratio": 3.0, "attack_s": 0.01, "release_s": 0.1}
MASTER_COMPRESSOR = {"threshold_db": -10.0, "ratio": 2.0, "attack_s": 0.02, "release_s": 0.2}
DELAY = {"time_s": 0.25, "feedback": 0.3, "mix": 1.0}
TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
ECHO_FLOOR = 1e-6
"""aecho gets taps until the feedback delay's repeats fall below -120 dB."""
WARM_UP = "4x0.25"
MEMORY_CHECK = "8x2,8x8"
MEMORY_CHECK_REPEATS = 3
"""Peaks settle after a few renders: Ray's object store keeps the pages it has touched."""
MB = 1e6


@dataclasses.dataclass(frozen=True)
class Size:
    """A session size: track count and length in minutes."""

    tracks: int
    minutes: float

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    @property
    def label(self) -> str:
        return f"{self.tracks}x{self.minutes:g}"


@dataclasses.dataclass(frozen=True)
class TrackSpec:
    """What one synthetic track is and does."""

    index: int
    channels: int
    gain_db: float
    pan: float
    bell_hz: float
    bell_db: float

    @property
    def file(self) -> str:
        return f"stems/track{self.index:02d}.wav"


@dataclasses.dataclass
class Peaks:
    """Highest figures seen while sampling, in bytes."""

    rss: float = 0.0
    pss: float = 0.0
    object_store: float = 0.0


def parse_sizes(text: str) -> list[Size]:
    """``"16x3,32x10"`` -> sizes; raises argparse.ArgumentTypeError on a malformed item."""
    sizes = []
    for item in text.split(","):
        try:
            tracks, minutes = item.lower().split("x")
            size = Size(int(tracks), float(minutes))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: expected TRACKSxMINUTES, e.g. 16x3 or 4x0.5") from None
        if size.tracks < 1 or not size.minutes > 0:
            raise argparse.ArgumentTypeError(f"{item!r}: needs at least one track and a length above 0 minutes")
        sizes.append(size)
    return sizes


def track_specs(tracks: int) -> list[TrackSpec]:
    """Deterministic, varied settings for ``tracks`` tracks."""
    return [
        TrackSpec(
            index=index,
            channels=2 if index % 2 == 0 else 1,
            gain_db=-3.0 - 1.5 * (index % 4),
            pan=round(math.sin(2.4 * index), 2),
            bell_hz=250.0 * 2 ** (index % 5),
            bell_db=3.0 if index % 2 else -3.0,
        )
        for index in range(tracks)
    ]


def write_stem(path: Path, index: int, channels: int, frames: int) -> None:
    """A decaying tone on a beat plus lowpassed noise, their balance set by ``index``, written block by block."""
    rng = np.random.default_rng(index)
    pitch_hz = 55.0 * 2.0 ** (((7 * index) % 24) / 12.0)
    hits_per_s = 1.0 + 0.5 * (index % 4)
    tonal = 0.8 if index % 3 else 0.2
    lowpass = scipy.signal.butter(1, 400.0 + 200.0 * (index % 8), fs=RATE, output="sos")
    state = np.zeros((1, 2, channels))
    phases = np.array([0.0, 0.5])[:channels]
    with soundfile.SoundFile(path, "w", RATE, channels, "PCM_24") as stem:
        for start in range(0, frames, BLOCK_FRAMES):
            t = np.arange(start, min(start + BLOCK_FRAMES, frames))[:, None] / RATE
            tone = np.sin(2.0 * np.pi * pitch_hz * t + phases) * np.exp(-6.0 * ((t * hits_per_s) % 1.0))
            noise, state = scipy.signal.sosfilt(lowpass, rng.standard_normal(tone.shape), axis=0, zi=state)
            stem.write(STEM_LEVEL * (tonal * tone + (1.0 - tonal) * NOISE_GAIN * noise))


def session_document(specs: list[TrackSpec], name: str) -> dict:
    """The session file's content for ``specs``."""
    tracks = [
        {
            "name": f"track{spec.index:02d}",
            "file": spec.file,
            "fx": [
                {
                    "type": "eq",
                    "bands": [
                        {"kind": "highpass", "freq_hz": HIGHPASS_HZ},
                        {"kind": "bell", "freq_hz": spec.bell_hz, "gain_db": spec.bell_db, "q": BELL_Q},
                    ],
                },
                {"type": "compressor", **TRACK_COMPRESSOR},
            ],
            "gain_db": spec.gain_db,
            "pan": spec.pan,
            "sends": [{"bus": "verb", "level_db": SEND_DB}],
        }
        for spec in specs
    ]
    return {
        "format": "mixfarm/1",
        "name": name,
        "sample_rate": RATE,
        "tracks": tracks,
        "buses": [{"name": "verb", "fx": [{"type": "delay", **DELAY}]}],
        "master": {
            "fx": [{"type": "compressor", **MASTER_COMPRESSOR}],
            "loudness": {"target_lufs": TARGET_LUFS, "true_peak_dbtp": CEILING_DBTP},
        },
        "outputs": [{"path": "master.wav", "format": "wav", "bit_depth": 24}],
    }


def build_session(folder: Path, size: Size) -> tuple[Path, list[TrackSpec]]:
    """Write the stems and session.yaml of ``size`` into ``folder``; return the session path and the tracks."""
    specs = track_specs(size.tracks)
    (folder / "stems").mkdir(parents=True)
    frames = int(round(size.seconds * RATE))
    for spec in specs:
        write_stem(folder / spec.file, spec.index, spec.channels, frames)
    session_path = folder / "session.yaml"
    session_path.write_text(yaml.safe_dump(session_document(specs, f"benchmark {size.label}"), sort_keys=False))
    return session_path, specs


def _acompressor(threshold_db: float, ratio: float, attack_s: float, release_s: float) -> str:
    """ffmpeg's acompressor set like mixfarm's compressor: hard knee, peak detector, linked by the loudest channel."""
    threshold = 10.0 ** (threshold_db / 20.0)
    return (
        f"acompressor=threshold={threshold:.6f}:ratio={ratio:g}:attack={attack_s * 1000:g}:release={release_s * 1000:g}"
        ":knee=1:detection=peak:link=maximum"
    )


def _pan(spec: TrackSpec) -> str:
    """ffmpeg's pan with mixfarm's laws: constant power for mono, balance for stereo."""
    if spec.channels == 1:
        left, right = constant_power_gains(spec.pan)
        return f"pan=stereo|c0={left:.6f}*c0|c1={right:.6f}*c0"
    left, right = balance_gains(spec.pan)
    return f"pan=stereo|c0={left:.6f}*c0|c1={right:.6f}*c1"


def _aecho() -> str:
    """The feedback delay as aecho taps at each repeat (aecho itself does not feed back), fully wet."""
    taps = math.ceil(math.log(ECHO_FLOOR) / math.log(DELAY["feedback"]))
    delays = "|".join(f"{DELAY['time_s'] * 1000 * (k + 1):g}" for k in range(taps))
    decays = "|".join(f"{DELAY['feedback'] ** k:.6g}" for k in range(taps))
    return f"aecho=in_gain={1.0 - DELAY['mix']:g}:out_gain=1:delays={delays}:decays={decays}"


def ffmpeg_graph(specs: list[TrackSpec], normalize_option: str) -> str:
    """The filtergraph equivalent to the session, ending in the label ``[out]``."""
    chains = []
    for spec in specs:
        i = spec.index
        chains.append(
            # mixfarm computes in float64; so does every stage here.
            f"[{i}:a]aformat=sample_fmts=dblp,highpass=f={HIGHPASS_HZ:g},"
            f"equalizer=f={spec.bell_hz:g}:t=q:w={BELL_Q:g}:g={spec.bell_db:g},{_acompressor(**TRACK_COMPRESSOR)},"
            f"volume={spec.gain_db:g}dB,{_pan(spec)},asplit[dry{i}][send{i}]"
        )
        chains.append(f"[send{i}]volume={SEND_DB:g}dB[wet{i}]")
    count = len(specs)
    wet = "".join(f"[wet{i}]" for i in range(count))
    dry = "".join(f"[dry{i}]" for i in range(count))
    chains.append(f"{wet}amix=inputs={count}{normalize_option},{_aecho()}[verb]")
    limit = 10.0 ** (CEILING_DBTP / 20.0)
    chains.append(
        f"{dry}[verb]amix=inputs={count + 1}{normalize_option},{_acompressor(**MASTER_COMPRESSOR)},"
        f"alimiter=limit={limit:.6f}:attack=5:release=50:level=0[out]"
    )
    return ";".join(chains)


def amix_normalize_option() -> str:
    """``":normalize=0"`` where this ffmpeg's amix has the option (4.4 and later), else nothing."""
    help_text = subprocess.run(["ffmpeg", "-hide_banner", "-h", "filter=amix"], capture_output=True, text=True, check=True).stdout
    return ":normalize=0" if "normalize" in help_text else ""


def ffmpeg_command(folder: Path, specs: list[TrackSpec], out_path: Path, normalize_option: str) -> list[str]:
    """The ffmpeg command line rendering the session in ``folder`` to ``out_path``."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for spec in specs:
        command += ["-i", str(folder / spec.file)]
    command += ["-filter_complex", ffmpeg_graph(specs, normalize_option), "-map", "[out]", "-c:a", "pcm_s24le", str(out_path)]
    return command


def run_ffmpeg(command: list[str]) -> tuple[float, float, float]:
    """Run ffmpeg; return (wall seconds, CPU seconds, its peak RSS in bytes)."""
    started = time.perf_counter()
    with subprocess.Popen(command, stderr=subprocess.PIPE) as process:
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    wall = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"ffmpeg failed ({process.returncode}): {stderr.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024.0


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User plus system CPU seconds each of ``pids`` has used so far."""
    used = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def rss_bytes(pids: list[int]) -> float:
    """Sum of the resident set sizes of ``pids`` (cheap: /proc/PID/statm)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE_BYTES
        except OSError:
            continue
    return total


def pss_bytes(pids: list[int]) -> float:
    """Sum of the proportional set sizes of ``pids`` (costlier: /proc/PID/smaps_rollup walks the page tables)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                total += sum(int(line.split()[1]) * 1024.0 for line in rollup if line.startswith("Pss:"))
        except OSError:
            continue
    return total


def object_store_used() -> float:
    """Bytes in use in Ray's object store, cluster-wide."""
    import ray

    total = ray.cluster_resources().get("object_store_memory", 0.0)
    return total - ray.available_resources().get("object_store_memory", 0.0)


class PeakSampler:
    """A background thread keeping the peak memory of this process tree and of Ray's object store.

    RSS is read every ``interval_s``; the process list, PSS and the object
    store every ``slow_every`` readings, as they cost more. ``cpu_s`` is the
    CPU time the sampling thread itself used.
    """

    def __init__(self, interval_s: float = 0.05, slow_every: int = 10) -> None:
        self.interval_s = interval_s
        self.slow_every = slow_every
        self.peaks = Peaks()
        self.cpu_s = 0.0
        self._pids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._sample(0)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(0)

    def _run(self) -> None:
        tick = 1
        while not self._stop.wait(self.interval_s):
            self._sample(tick)
            tick += 1
        self.cpu_s = time.thread_time()

    def _sample(self, tick: int) -> None:
        if tick % self.slow_every == 0:
            self._pids = descendants(os.getpid())
            self.peaks.pss = max(self.peaks.pss, pss_bytes(self._pids))
            self.peaks.object_store = max(self.peaks.object_store, object_store_used())
        self.peaks.rss = max(self.peaks.rss, rss_bytes(self._pids))


def render_mixfarm(session_path: Path, out_dir: Path, executor: RayExecutor, chunk_s: float) -> tuple[float, float, Peaks]:
    """Render with mixfarm; return (wall seconds, CPU seconds of the process tree less the sampler's, peaks while rendering)."""
    before = cpu_seconds(descendants(os.getpid()))
    with PeakSampler() as sampler:
        started = time.perf_counter()
        render(session_path, out_dir, chunk_s=chunk_s, executor=executor)
        wall = time.perf_counter() - started
    after = cpu_seconds(descendants(os.getpid()))
    cpu = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items()) - sampler.cpu_s
    return wall, cpu, sampler.peaks


def measure(size: Size, folder: Path, executor: RayExecutor, args: argparse.Namespace, normalize_option: str) -> dict:
    """Build one session, render it ``args.repeats`` times with each renderer; return its row of figures."""
    status(f"{size.label}: writing stems")
    session_path, specs = build_session(folder, size)
    command = ffmpeg_command(folder, specs, folder / "ffmpeg" / "master.wav", normalize_option)
    (folder / "ffmpeg").mkdir()
    mixfarm_runs, ffmpeg_runs = [], []
    for repeat in range(args.repeats):
        status(f"{size.label}: render {repeat + 1} of {args.repeats}")
        mixfarm_runs.append(render_mixfarm(session_path, folder / "mixfarm", executor, args.chunk_s))
        ffmpeg_runs.append(run_ffmpeg(command))
    mixfarm_wall = statistics.median(run[0] for run in mixfarm_runs)
    ffmpeg_wall = statistics.median(run[0] for run in ffmpeg_runs)
    peaks = [run[2] for run in mixfarm_runs]
    return {
        "size": size,
        "mixfarm_s": mixfarm_wall,
        "mixfarm_cpu_s": statistics.median(run[1] for run in mixfarm_runs),
        "rtf": size.seconds / mixfarm_wall,
        "rss_mb": max(peak.rss for peak in peaks) / MB,
        "pss_mb": max(peak.pss for peak in peaks) / MB,
        "store_mb": max(peak.object_store for peak in peaks) / MB,
        "ffmpeg_s": ffmpeg_wall,
        "ffmpeg_cpu_s": statistics.median(run[1] for run in ffmpeg_runs),
        "ffmpeg_rss_mb": max(run[2] for run in ffmpeg_runs) / MB,
        "ratio": ffmpeg_wall / mixfarm_wall,
    }


HEADER = (
    f"{'tracks':>6} {'min':>5} {'mixfarm s':>10} {'CPU s':>7} {'realtime':>9} {'peak RSS MB':>12} {'peak PSS MB':>12} "
    f"{'obj store MB':>13} {'ffmpeg s':>9} {'ffmpeg CPU s':>13} {'ffmpeg RSS MB':>14} {'ratio':>6}"
)


def format_row(row: dict) -> str:
    size = row["size"]
    return (
        f"{size.tracks:>6} {size.minutes:>5g} {row['mixfarm_s']:>10.1f} {row['mixfarm_cpu_s']:>7.1f} {row['rtf']:>8.1f}x "
        f"{row['rss_mb']:>12.0f} {row['pss_mb']:>12.0f} {row['store_mb']:>13.0f} "
        f"{row['ffmpeg_s']:>9.1f} {row['ffmpeg_cpu_s']:>13.1f} {row['ffmpeg_rss_mb']:>14.0f} {row['ratio']:>5.2f}x"
    )


def memory_comparison(rows: list[dict], idle_pss_mb: float) -> str:
    """One line setting the peak memory of the first and last session side by side."""
    parts = []
    for row in (rows[0], rows[-1]):
        size = row["size"]
        parts.append(
            f"{size.tracks} tracks x {size.minutes:g} min: peak RSS {row['rss_mb']:.0f} MB, "
            f"PSS {row['pss_mb']:.0f} MB ({row['pss_mb'] - idle_pss_mb:+.0f} MB over idle)"
        )
    return "memory vs length: " + "; ".join(parts)


def ffmpeg_version() -> str:
    """The version word of ``ffmpeg -version``."""
    first_line = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return first_line.split()[2]


def status(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--sessions", type=parse_sizes, default=parse_sizes("16x3"), help="comma-separated TRACKSxMINUTES (default 16x3)")
    parser.add_argument("--memory-check", action="store_true", help=f"render {MEMORY_CHECK.replace(',', ' and ')} instead and compare their peak memory")
    parser.add_argument("--chunk-s", type=float, default=10.0, help="mixfarm's time chunk in seconds (default 10)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="renders per session and renderer; walls are medians, memory the highest peak (default 1; 3 with --memory-check)"
    )
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the temporary sessions (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the sessions and renders, and print where they are")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats: must be at least 1")
    if args.memory_check:
        args.sessions = parse_sizes(MEMORY_CHECK)
        args.repeats = args.repeats or MEMORY_CHECK_REPEATS
    args.repeats = args.repeats or 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not on the PATH (Debian: apt-get install ffmpeg)", file=sys.stderr)
        return 2
    normalize_option = amix_normalize_option()
    root = Path(tempfile.mkdtemp(prefix="mixfarm-bench-", dir=args.tmp))
    try:
        executor = RayExecutor()
        cluster = executor.cluster()
        status("warm-up render")
        warm_up = parse_sizes(WARM_UP)[0]
        session_path, _ = build_session(root / "warm-up", warm_up)
        render(session_path, root / "warm-up" / "mixfarm", chunk_s=args.chunk_s, executor=executor)
        pids = descendants(os.getpid())
        idle_rss, idle_pss = rss_bytes(pids), pss_bytes(pids)
        print(
            f"mixfarm on a local Ray cluster ({cluster['cpus']:g} CPUs, warm), chunk_s {args.chunk_s:g}; ffmpeg {ffmpeg_version()}; "
            f"{args.repeats} run(s) each, median wall; load average {os.getloadavg()[0]:.2f} before the first session"
        )
        print(f"idle process tree before rendering: RSS {idle_rss / MB:.0f} MB, PSS {idle_pss / MB:.0f} MB")
        print(
            "realtime = session seconds / mixfarm wall s; CPU s = user + system seconds of all its processes (less sensitive to other load); "
            "ratio = ffmpeg wall / mixfarm wall; ffmpeg skips loudness normalisation (one pass, no -14 LUFS)"
        )
        print(HEADER, flush=True)
        rows = []
        for number, size in enumerate(args.sessions, 1):
            rows.append(measure(size, root / f"{number}-{size.label}", executor, args, normalize_option))
            print(format_row(rows[-1]), flush=True)
        if args.memory_check:
            print(memory_comparison(rows, idle_pss / MB))
    finally:
        if args.keep:
            print(f"sessions and renders kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
