"""Wall and CPU time, realtime factor and peak memory of whole-session renders, beside ffmpeg and pedalboard.

For each size ``TRACKSxMINUTES`` it writes a synthetic session into a temporary
folder: 48 kHz stems as 24-bit WAV (even tracks stereo, odd tracks mono; tonal
and noisy material made deterministically with numpy) and a ``session.yaml``
where every track runs ``eq`` (highpass 80 Hz + bell) and ``compressor``, has a
fader, a pan and a send to a ``verb`` bus whose effect is a feedback ``delay``;
the master runs a ``compressor`` and the loudness stage (-14 LUFS, -1 dBTP) and
writes one 24-bit ``master.wav``. The preset ``song17`` is the speed goal's
session, 17 tracks of one minute: tracks 0 to 4 output to a ``drums`` bus (a
compressor), tracks 1, 5, 9, 13 run ``saturation`` (9 dB drive) between eq and
compressor, and every track's send feeds a ``verb`` bus running ``reverb``
(1.5 s decay, fully wet) instead of the delay.

Warm mode (the default). mixfarm renders each session on one warm local Ray
cluster (started once; a small warm-up render first loads numba's caches into
the workers, and each session is rendered once, untimed, before its timed
renders, so the workers have loaded the code of its own effects, as the
in-process path's first render does). Meanwhile a background thread samples the
memory of this process and all its descendants (the Ray driver, GCS, raylet,
workers) from /proc, RSS every 50 ms, PSS and Ray's object store usage every
0.5 s; the peaks are reported. RSS counts a page once per process that maps it
(the object store's pages in every worker that reads them); PSS splits shared
pages between those processes and is the fairer sum. CPU seconds (user +
system, of every process in the tree, less the sampler's own) are printed
beside wall seconds: on a shared machine they move less with other load.
``local s`` and ``local CPU s`` are the same render in process with
``LocalExecutor`` (no Ray; one thread per CPU; CPU seconds of that process).
They and the pedalboard peer run in a new process of their own (started after
every Ray render, with the Ray cluster stopped), as ``mixfarm render`` runs: no
Ray loaded, the malloc settings the command makes, numba's caches loaded by one
render first. In the Ray driver's own process the same renders cost about 20 %
more CPU, mostly page faults, which is not what a user's render pays.

ffmpeg renders the same session with the equivalent filtergraph: per track
highpass, equalizer, asoftclip (type tanh with its threshold at ``1 / g``,
which is exactly mixfarm's ``tanh(g * x) / g``; 4x oversampled where this
ffmpeg has the option, as mixfarm's is, though with other filters),
acompressor, volume, pan, split into dry and send; the drum tracks' dry
signals summed through acompressor; the sends summed through aecho (for the
delay: taps at the delay's repeats, as aecho does not feed back; for the
reverb: one tap per FDN delay line at its first pass, a sparse echo of about
the FDN's cost, not a reverb); everything summed, then acompressor and
alimiter, written as 24-bit WAV.
The routing, gains and pan laws match: with the compressors' thresholds at
0 dB both mixes of the delay session measure the same integrated loudness
(within 0.001 LU); acompressor's detector and smoothing differ from mixfarm's,
so the compressed mixes do not null, and in ``song17`` the reverb bus differs.
ffmpeg does no two-pass loudness normalisation, so it does less work than
mixfarm, which measures the mix, then runs the master stage over it (again if
limiting moved the loudness) and re-measures the written file; ffmpeg is the
nearest peer, not an equal. The ratio is ffmpeg wall / mixfarm wall (above 1:
mixfarm is faster).

pedalboard renders it in this process, reading the same stems in blocks of
2**18 frames as float32 (each plugin keeping its state between blocks): per
track HighpassFilter (first order, 6 dB/octave, where mixfarm's is a 12 dB/octave
Butterworth) and PeakFilter, Distortion and a Gain of ``-drive_db`` for the
saturation (the same curve, not oversampled), Compressor, Gain for the fader,
then mixfarm's pan laws in numpy; the drum bus a Compressor; the sends summed
through Delay (a feedback delay like mixfarm's) or Reverb (Freeverb, not the
FDN); the master Compressor and Limiter (sample peaks, not true peak), no
loudness normalisation. ``pedalboard s`` and ``pedalboard CPU s`` are its wall
and this process's CPU seconds, stem reading and WAV writing included;
``local/pb CPU`` is local CPU s / pedalboard CPU s (above 1: mixfarm uses more).

With ``--repeats`` above 1, walls are medians and memory the highest peak.
``--memory-check`` renders 16 tracks of 3 and of 12 minutes, 3 times each, and
compares their peaks: with time-chunked rendering they should not grow with
session length. (The object store keeps the shared-memory pages it has
touched, so the first render after a start reads lower; repeats even that out.)

Cold mode (``--cold``, default session ``song17``) times what a user waits for
at the command line: ``mixfarm render SESSION -o OUT --json`` as a new process
(RAY_ADDRESS removed from its environment) with the default executor, which
with no cluster running renders in process on threads (the row names the
executor the report gives and why), then the same with ``--executor ray``,
which starts (and at exit stops) its own local Ray cluster, then ffmpeg, each
``--repeats`` times. ``cold s`` is the wall until the command exits; ``in
render s`` the ``wall_s`` of its JSON report (from loading the session to the
written outputs, so ``cold s`` less it is start-up: imports and, for Ray, the
cluster). ``CPU s`` is user + system seconds of the command and all its
descendants: the RUSAGE_CHILDREN delta around it, which counts every
descendant once it has been waited for. Ray's workers outlive the command (the
raylet that started them is killed at exit); this process makes itself a child
subreaper (PR_SET_CHILD_SUBREAPER) so that they are re-parented to it, waits
up to 60 s for them to exit and reaps them, so their CPU seconds are counted
too; any still running then are named under the table and not counted.
``ratio`` is ffmpeg wall / cold wall and ``ratio ray`` ffmpeg wall / cold Ray
wall.
Linux only (reads /proc); needs ``ffmpeg`` on the PATH, and ``mixfarm`` for
``--cold``.

    python benchmarks/render_session.py                       # 16 x 3 min
    python benchmarks/render_session.py --sessions 4x0.5      # quick
    python benchmarks/render_session.py --sessions 16x3,32x10 --chunk-s 10
    python benchmarks/render_session.py --sessions song17
    python benchmarks/render_session.py --memory-check
    python benchmarks/render_session.py --cold --repeats 3    # song17 from the command line
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import math
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pedalboard
import scipy.signal
import soundfile
import yaml

from dsp.pan import balance_gains, constant_power_gains
from dsp.reverb import line_lengths
from farm.engine.allocator import retain_freed_memory
from farm.engine.executor import LocalExecutor, RayExecutor
from farm.engine.plan import DEFAULT_CHUNK_S
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
SONG_TRACKS = 17
SONG_MINUTES = 1.0
DRUM_TRACKS = 5
"""In the song preset, tracks 0 to 4 output to the drum bus."""
SATURATED_EVERY = 4
"""In the song preset, tracks 1, 5, 9, ... (every fourth) run a saturation."""
SATURATION_DB = 9.0
DRUM_COMPRESSOR = {"threshold_db": -18.0, "ratio": 4.0, "attack_s": 0.005, "release_s": 0.08}
REVERB = {"decay_s": 1.5, "size": 0.5, "damping_hz": 6000.0, "mix": 1.0}
REVERB_TAP_SCALE = 0.25
"""aecho's 16 reverb taps get a quarter of each line's decay gain, their summed energy near the FDN's (about 0 dB)."""
PEDALBOARD_REVERB_DAMPING = 0.5
"""Freeverb's damping, 0 to 1: it has no frequency to match mixfarm's damping_hz."""
LIMITER_RELEASE_S = 0.05
COLD_LINGER_S = 60.0
"""How long a cold run waits for the processes that outlive the command (Ray workers) to exit and be reaped."""
PR_SET_CHILD_SUBREAPER = 36
WARM_UP = "4x0.25"
MEMORY_CHECK = "16x3,16x12"
MEMORY_CHECK_REPEATS = 3
"""Peaks settle after a few renders: Ray's object store keeps the pages it has touched."""
MB = 1e6


@dataclasses.dataclass(frozen=True)
class Size:
    """A session size: track count and length in minutes."""

    tracks: int
    minutes: float
    song: bool = False
    """The song preset's layout: drum and reverb buses, saturation on a few tracks (else: a delay bus only)."""

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    @property
    def label(self) -> str:
        return f"song{self.tracks}" if self.song else f"{self.tracks}x{self.minutes:g}"


SONG = Size(SONG_TRACKS, SONG_MINUTES, song=True)
"""The speed goal's session: 17 tracks, one minute, drum and reverb buses, sends, saturation on a few tracks."""


@dataclasses.dataclass(frozen=True)
class TrackSpec:
    """What one synthetic track is and does."""

    index: int
    channels: int
    gain_db: float
    pan: float
    bell_hz: float
    bell_db: float
    output: str = "master"
    drive_db: float | None = None
    """The saturation's drive in dB, or None for no saturation."""

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
    """``"16x3,32x10,song17"`` -> sizes; raises argparse.ArgumentTypeError on a malformed item."""
    sizes = []
    for item in text.split(","):
        if item.lower() == SONG.label:
            sizes.append(SONG)
            continue
        try:
            tracks, minutes = item.lower().split("x")
            size = Size(int(tracks), float(minutes))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: expected TRACKSxMINUTES, e.g. 16x3 or 4x0.5, or {SONG.label}") from None
        if size.tracks < 1 or not size.minutes > 0:
            raise argparse.ArgumentTypeError(f"{item!r}: needs at least one track and a length above 0 minutes")
        sizes.append(size)
    return sizes


def track_specs(size: Size) -> list[TrackSpec]:
    """Deterministic, varied settings for the tracks of ``size`` (with the song preset's routing and saturation)."""
    return [
        TrackSpec(
            index=index,
            channels=2 if index % 2 == 0 else 1,
            gain_db=-3.0 - 1.5 * (index % 4),
            pan=round(math.sin(2.4 * index), 2),
            bell_hz=250.0 * 2 ** (index % 5),
            bell_db=3.0 if index % 2 else -3.0,
            output="drums" if size.song and index < DRUM_TRACKS else "master",
            drive_db=SATURATION_DB if size.song and index % SATURATED_EVERY == 1 else None,
        )
        for index in range(size.tracks)
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


def track_fx(spec: TrackSpec) -> list[dict]:
    """The insert effects of one track: eq, saturation where it has one, compressor."""
    eq = {
        "type": "eq",
        "bands": [
            {"kind": "highpass", "freq_hz": HIGHPASS_HZ},
            {"kind": "bell", "freq_hz": spec.bell_hz, "gain_db": spec.bell_db, "q": BELL_Q},
        ],
    }
    saturation = [] if spec.drive_db is None else [{"type": "saturation", "drive_db": spec.drive_db, "mix": 1.0}]
    return [eq, *saturation, {"type": "compressor", **TRACK_COMPRESSOR}]


def session_document(size: Size, specs: list[TrackSpec], name: str) -> dict:
    """The session file's content for ``specs``: the song preset's buses (drums, a reverb) or a delay bus."""
    tracks = [
        {
            "name": f"track{spec.index:02d}",
            "file": spec.file,
            "fx": track_fx(spec),
            "gain_db": spec.gain_db,
            "pan": spec.pan,
            "output": spec.output,
            "sends": [{"bus": "verb", "level_db": SEND_DB}],
        }
        for spec in specs
    ]
    if size.song:
        buses = [
            {"name": "drums", "fx": [{"type": "compressor", **DRUM_COMPRESSOR}]},
            {"name": "verb", "fx": [{"type": "reverb", **REVERB}]},
        ]
    else:
        buses = [{"name": "verb", "fx": [{"type": "delay", **DELAY}]}]
    return {
        "format": "mixfarm/1",
        "name": name,
        "sample_rate": RATE,
        "tracks": tracks,
        "buses": buses,
        "master": {
            "fx": [{"type": "compressor", **MASTER_COMPRESSOR}],
            "loudness": {"target_lufs": TARGET_LUFS, "true_peak_dbtp": CEILING_DBTP},
        },
        "outputs": [{"path": "master.wav", "format": "wav", "bit_depth": 24}],
    }


def build_session(folder: Path, size: Size) -> tuple[Path, list[TrackSpec]]:
    """Write the stems and session.yaml of ``size`` into ``folder``; return the session path and the tracks."""
    specs = track_specs(size)
    (folder / "stems").mkdir(parents=True)
    frames = int(round(size.seconds * RATE))
    for spec in specs:
        write_stem(folder / spec.file, spec.index, spec.channels, frames)
    session_path = folder / "session.yaml"
    session_path.write_text(yaml.safe_dump(session_document(size, specs, f"benchmark {size.label}"), sort_keys=False))
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


def _aecho_reverb() -> str:
    """The nearest ffmpeg has to the FDN reverb: one aecho tap per delay line, at its first pass, fully wet.

    The taps sit at the FDN's 16 line lengths with each line's decay gain (times
    :data:`REVERB_TAP_SCALE`); there is no feedback, diffusion or damping, so it
    is a sparse early echo at about the FDN's cost, not a reverb.
    """
    lengths = line_lengths(float(RATE), REVERB["size"])
    delays = "|".join(f"{length * 1000.0 / RATE:.3f}" for length in lengths)
    decays = "|".join(f"{REVERB_TAP_SCALE * 10.0 ** (-3.0 * length / (RATE * REVERB['decay_s'])):.6g}" for length in lengths)
    return f"aecho=in_gain={1.0 - REVERB['mix']:g}:out_gain=1:delays={delays}:decays={decays}"


def _asoftclip(drive_db: float, oversample_option: str) -> str:
    """mixfarm's saturation ``tanh(g * x) / g`` as asoftclip: tanh with its threshold at ``1 / g`` is exactly that curve."""
    return f"asoftclip=type=tanh:threshold={10.0 ** (-drive_db / 20.0):.6f}{oversample_option}"


@dataclasses.dataclass(frozen=True)
class FfmpegOptions:
    """Options that depend on the ffmpeg version: ``":normalize=0"`` for amix, ``":oversample=4"`` for asoftclip, or empty."""

    normalize: str
    oversample: str


def ffmpeg_graph(size: Size, specs: list[TrackSpec], options: FfmpegOptions) -> str:
    """The filtergraph equivalent to the session, ending in the label ``[out]``."""
    chains = []
    for spec in specs:
        i = spec.index
        saturation = "" if spec.drive_db is None else f"{_asoftclip(spec.drive_db, options.oversample)},"
        chains.append(
            # mixfarm computes in float64; so does every stage here.
            f"[{i}:a]aformat=sample_fmts=dblp,highpass=f={HIGHPASS_HZ:g},"
            f"equalizer=f={spec.bell_hz:g}:t=q:w={BELL_Q:g}:g={spec.bell_db:g},{saturation}{_acompressor(**TRACK_COMPRESSOR)},"
            f"volume={spec.gain_db:g}dB,{_pan(spec)},asplit[dry{i}][send{i}]"
        )
        chains.append(f"[send{i}]volume={SEND_DB:g}dB[wet{i}]")
    count = len(specs)
    wet = "".join(f"[wet{i}]" for i in range(count))
    verb = _aecho_reverb() if size.song else _aecho()
    chains.append(f"{wet}amix=inputs={count}{options.normalize},{verb}[verb]")
    drums = "".join(f"[dry{spec.index}]" for spec in specs if spec.output == "drums")
    to_master = "".join(f"[dry{spec.index}]" for spec in specs if spec.output == "master") + "[verb]"
    if drums:
        chains.append(f"{drums}amix=inputs={drums.count('[')}{options.normalize},{_acompressor(**DRUM_COMPRESSOR)}[drums]")
        to_master += "[drums]"
    limit = 10.0 ** (CEILING_DBTP / 20.0)
    chains.append(
        f"{to_master}amix=inputs={to_master.count('[')}{options.normalize},{_acompressor(**MASTER_COMPRESSOR)},"
        f"alimiter=limit={limit:.6f}:attack=5:release={LIMITER_RELEASE_S * 1000:g}:level=0[out]"
    )
    return ";".join(chains)


def ffmpeg_options() -> FfmpegOptions:
    """What this ffmpeg's amix (normalize: 4.4 and later) and asoftclip (oversample: 4.4 and later) support."""

    def help_text(name: str) -> str:
        return subprocess.run(["ffmpeg", "-hide_banner", "-h", f"filter={name}"], capture_output=True, text=True, check=True).stdout

    return FfmpegOptions(
        normalize=":normalize=0" if "normalize" in help_text("amix") else "",
        oversample=":oversample=4" if "oversample" in help_text("asoftclip") else "",
    )


def ffmpeg_command(folder: Path, size: Size, specs: list[TrackSpec], out_path: Path, options: FfmpegOptions) -> list[str]:
    """The ffmpeg command line rendering the session in ``folder`` to ``out_path``."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for spec in specs:
        command += ["-i", str(folder / spec.file)]
    command += ["-filter_complex", ffmpeg_graph(size, specs, options), "-map", "[out]", "-c:a", "pcm_s24le", str(out_path)]
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


def _pedalboard_compressor(threshold_db: float, ratio: float, attack_s: float, release_s: float) -> pedalboard.Compressor:
    return pedalboard.Compressor(threshold_db=threshold_db, ratio=ratio, attack_ms=attack_s * 1000.0, release_ms=release_s * 1000.0)


def pedalboard_track(spec: TrackSpec) -> pedalboard.Pedalboard:
    """The nearest pedalboard chain to one track's strip up to its fader (the pan is applied in numpy).

    HighpassFilter is first order (6 dB/octave; mixfarm's highpass is a
    12 dB/octave Butterworth); Distortion is ``tanh(g * x)``, so a Gain of
    ``-drive_db`` after it gives mixfarm's ``tanh(g * x) / g``, without
    oversampling.
    """
    plugins = [pedalboard.HighpassFilter(cutoff_frequency_hz=HIGHPASS_HZ), pedalboard.PeakFilter(cutoff_frequency_hz=spec.bell_hz, gain_db=spec.bell_db, q=BELL_Q)]
    if spec.drive_db is not None:
        plugins += [pedalboard.Distortion(drive_db=spec.drive_db), pedalboard.Gain(gain_db=-spec.drive_db)]
    plugins += [_pedalboard_compressor(**TRACK_COMPRESSOR), pedalboard.Gain(gain_db=spec.gain_db)]
    return pedalboard.Pedalboard(plugins)


def pedalboard_buses(size: Size) -> dict[str, pedalboard.Pedalboard]:
    """Bus name -> its pedalboard chain: Delay for the delay bus; Reverb (Freeverb, not mixfarm's FDN) and a Compressor in the song preset."""
    if not size.song:
        return {"verb": pedalboard.Pedalboard([pedalboard.Delay(delay_seconds=DELAY["time_s"], feedback=DELAY["feedback"], mix=DELAY["mix"])])}
    reverb = pedalboard.Reverb(room_size=REVERB["size"], damping=PEDALBOARD_REVERB_DAMPING, wet_level=REVERB["mix"], dry_level=1.0 - REVERB["mix"])
    return {"drums": pedalboard.Pedalboard([_pedalboard_compressor(**DRUM_COMPRESSOR)]), "verb": pedalboard.Pedalboard([reverb])}


def pedalboard_master() -> pedalboard.Pedalboard:
    """The master: Compressor, then Limiter at the ceiling (JUCE's limiter: sample peaks, not true peak)."""
    return pedalboard.Pedalboard(
        [_pedalboard_compressor(**MASTER_COMPRESSOR), pedalboard.Limiter(threshold_db=CEILING_DBTP, release_ms=LIMITER_RELEASE_S * 1000.0)]
    )


def pan_gains(spec: TrackSpec) -> np.ndarray:
    """Left and right gains of mixfarm's pan laws for this track, shaped (2, 1)."""
    gains = constant_power_gains(spec.pan) if spec.channels == 1 else balance_gains(spec.pan)
    return np.array(gains, dtype=np.float32).reshape(2, 1)


def render_pedalboard(folder: Path, size: Size, specs: list[TrackSpec], out_path: Path) -> tuple[float, float]:
    """Mix the session in ``folder`` with pedalboard, block by block, into a 24-bit ``out_path``; return (wall seconds, CPU seconds of this process).

    Stems are read and processed in blocks of BLOCK_FRAMES frames (float32,
    as pedalboard computes), each chain keeping its state between blocks;
    the mix is written without loudness normalisation.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    tracks = [(spec, pedalboard_track(spec), pan_gains(spec)) for spec in specs]
    buses = pedalboard_buses(size)
    master_board = pedalboard_master()
    send = np.float32(10.0 ** (SEND_DB / 20.0))
    with contextlib.ExitStack() as stack:
        stems = [stack.enter_context(soundfile.SoundFile(folder / spec.file)) for spec in specs]
        out = stack.enter_context(soundfile.SoundFile(out_path, "w", RATE, 2, "PCM_24"))
        while True:
            blocks = [stem.read(BLOCK_FRAMES, dtype="float32", always_2d=True).T for stem in stems]
            frames = blocks[0].shape[1]
            if frames == 0:
                break
            sums = {name: np.zeros((2, frames), dtype=np.float32) for name in ("master", *buses)}
            for (spec, board, gains), block in zip(tracks, blocks):
                stereo = board(block, RATE, reset=False) * gains
                sums[spec.output] += stereo
                sums["verb"] += send * stereo
            for name, board in buses.items():
                sums["master"] += board(sums[name], RATE, reset=False)
            out.write(master_board(sums["master"], RATE, reset=False).T)
    return time.perf_counter() - started, time.process_time() - cpu_started


def render_in_fresh_process(
    folder: Path, size: Size, specs: list[TrackSpec], session_path: Path, chunk_s: float, repeats: int
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """In a process of its own (no Ray loaded, as under ``mixfarm render``): mixfarm in process and pedalboard, ``repeats`` times each, alternating.

    The malloc settings are those ``mixfarm render`` makes, and one render
    first loads numba's caches, so the figures are of warm in-process renders.
    Returns the (wall, CPU) seconds of each run: mixfarm's, then pedalboard's.
    """
    retain_freed_memory()
    render_local(session_path, folder / "local-warm-up", chunk_s)
    local_runs, pedalboard_runs = [], []
    for _ in range(repeats):
        local_runs.append(render_local(session_path, folder / "local", chunk_s))
        pedalboard_runs.append(render_pedalboard(folder, size, specs, folder / "pedalboard" / "master.wav"))
    return local_runs, pedalboard_runs


def render_local(session_path: Path, out_dir: Path, chunk_s: float) -> tuple[float, float]:
    """Render with mixfarm in this process (LocalExecutor); return (wall seconds, CPU seconds of this process)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    render(session_path, out_dir, chunk_s=chunk_s, executor=LocalExecutor())
    return time.perf_counter() - started, time.process_time() - cpu_started


def become_subreaper() -> None:
    """Make this process adopt its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER), so it can reap and count them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_orphans(deadline: float) -> int:
    """Reap adopted descendants as they exit, until none is left or ``time.monotonic()`` passes ``deadline``; return how many still run."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            if time.monotonic() > deadline:
                return len(descendants(os.getpid())) - 1
            time.sleep(0.05)


def run_cold(command: list[str]) -> tuple[float, float, float, int, str]:
    """Run a ``mixfarm render --json`` command line as a new process.

    Returns (wall seconds until the command exits, the render's own wall
    seconds from its JSON report, CPU seconds of the command and every
    descendant, how many descendants still ran after COLD_LINGER_S, the
    report's executor and why it was chosen). CPU is
    the RUSAGE_CHILDREN delta after the command and the processes that
    outlive it (Ray's workers), adopted by this subreaper, have been reaped.
    """
    environment = {name: value for name, value in os.environ.items() if name != "RAY_ADDRESS"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    wall = time.perf_counter() - started
    lingering = reap_orphans(time.monotonic() + COLD_LINGER_S)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}): {completed.stderr}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    report = json.loads(completed.stdout)
    return wall, report["wall_s"], cpu, lingering, f"{report['executor']}: {report['executor_reason']}"


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


def measure_mixfarm(size: Size, folder: Path, executor: RayExecutor, args: argparse.Namespace) -> dict:
    """Build one session, render it once untimed and then ``args.repeats`` times on the warm Ray cluster; return its row's mixfarm figures.

    The untimed render loads the numba code of the session's own effects
    into the workers, as the in-process path's first render does.
    """
    status(f"{size.label}: writing stems")
    session_path, specs = build_session(folder, size)
    status(f"{size.label}: Ray warm-up render")
    render(session_path, folder / "mixfarm-warm-up", chunk_s=args.chunk_s, executor=executor)
    runs = []
    for repeat in range(args.repeats):
        status(f"{size.label}: Ray render {repeat + 1} of {args.repeats}")
        runs.append(render_mixfarm(session_path, folder / "mixfarm", executor, args.chunk_s))
    wall = statistics.median(run[0] for run in runs)
    peaks = [run[2] for run in runs]
    return {
        "size": size,
        "folder": folder,
        "session_path": session_path,
        "specs": specs,
        "mixfarm_s": wall,
        "mixfarm_cpu_s": statistics.median(run[1] for run in runs),
        "rtf": size.seconds / wall,
        "rss_mb": max(peak.rss for peak in peaks) / MB,
        "pss_mb": max(peak.pss for peak in peaks) / MB,
        "store_mb": max(peak.object_store for peak in peaks) / MB,
    }


def measure_peers(row: dict, args: argparse.Namespace, options: FfmpegOptions) -> dict:
    """Render ``row``'s session in this process, with ffmpeg and with pedalboard, ``args.repeats`` times each; return the row completed."""
    size, folder, session_path, specs = row["size"], row["folder"], row["session_path"], row["specs"]
    command = ffmpeg_command(folder, size, specs, folder / "ffmpeg" / "master.wav", options)
    (folder / "ffmpeg").mkdir()
    (folder / "pedalboard").mkdir()
    status(f"{size.label}: in-process and pedalboard renders, {args.repeats} of each, in a new process")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        local_runs, pedalboard_runs = pool.apply(render_in_fresh_process, (folder, size, specs, session_path, args.chunk_s, args.repeats))
    ffmpeg_runs = []
    for repeat in range(args.repeats):
        status(f"{size.label}: ffmpeg render {repeat + 1} of {args.repeats}")
        ffmpeg_runs.append(run_ffmpeg(command))
    ffmpeg_wall = statistics.median(run[0] for run in ffmpeg_runs)
    local_cpu = statistics.median(run[1] for run in local_runs)
    pedalboard_cpu = statistics.median(run[1] for run in pedalboard_runs)
    return {
        **row,
        "ffmpeg_s": ffmpeg_wall,
        "ffmpeg_cpu_s": statistics.median(run[1] for run in ffmpeg_runs),
        "ffmpeg_rss_mb": max(run[2] for run in ffmpeg_runs) / MB,
        "ratio": ffmpeg_wall / row["mixfarm_s"],
        "local_s": statistics.median(run[0] for run in local_runs),
        "local_cpu_s": local_cpu,
        "pedalboard_s": statistics.median(run[0] for run in pedalboard_runs),
        "pedalboard_cpu_s": pedalboard_cpu,
        "cpu_ratio": local_cpu / pedalboard_cpu,
        "ray_local_cpu": row["mixfarm_cpu_s"] / local_cpu,
    }


HEADER = (
    f"{'session':>8} {'tracks':>6} {'min':>5} {'mixfarm s':>10} {'CPU s':>7} {'realtime':>9} {'peak RSS MB':>12} {'peak PSS MB':>12} "
    f"{'obj store MB':>13} {'ffmpeg s':>9} {'ffmpeg CPU s':>13} {'ffmpeg RSS MB':>14} {'ratio':>6} "
    f"{'local s':>8} {'local CPU s':>12} {'Ray/local CPU':>13} {'pedalboard s':>13} {'pedalboard CPU s':>17} {'local/pb CPU':>13}"
)


def format_row(row: dict) -> str:
    size = row["size"]
    return (
        f"{size.label:>8} {size.tracks:>6} {size.minutes:>5g} {row['mixfarm_s']:>10.1f} {row['mixfarm_cpu_s']:>7.1f} {row['rtf']:>8.1f}x "
        f"{row['rss_mb']:>12.0f} {row['pss_mb']:>12.0f} {row['store_mb']:>13.0f} "
        f"{row['ffmpeg_s']:>9.1f} {row['ffmpeg_cpu_s']:>13.1f} {row['ffmpeg_rss_mb']:>14.0f} {row['ratio']:>5.2f}x "
        f"{row['local_s']:>8.1f} {row['local_cpu_s']:>12.1f} {row['ray_local_cpu']:>12.2f}x {row['pedalboard_s']:>13.1f} {row['pedalboard_cpu_s']:>17.1f} "
        f"{row['cpu_ratio']:>12.2f}x"
    )


def measure_cold(size: Size, folder: Path, args: argparse.Namespace, options: FfmpegOptions) -> dict:
    """Build one session; run ``mixfarm render`` (as it is, then --executor ray) and ffmpeg ``args.repeats`` times each as new processes; return its row."""
    status(f"{size.label}: writing stems")
    session_path, specs = build_session(folder, size)
    (folder / "ffmpeg").mkdir()
    ffmpeg = ffmpeg_command(folder, size, specs, folder / "ffmpeg" / "master.wav", options)
    mixfarm = ["mixfarm", "render", str(session_path), "--json", "--chunk-s", f"{args.chunk_s:g}", "-o"]
    default_runs, ray_runs, ffmpeg_runs = [], [], []
    for repeat in range(args.repeats):
        status(f"{size.label}: cold run {repeat + 1} of {args.repeats}")
        default_runs.append(run_cold([*mixfarm, str(folder / "default")]))
        ray_runs.append(run_cold([*mixfarm, str(folder / "ray"), "--executor", "ray"]))
        ffmpeg_runs.append(run_ffmpeg(ffmpeg))
    default_wall = statistics.median(run[0] for run in default_runs)
    ray_wall = statistics.median(run[0] for run in ray_runs)
    ffmpeg_wall = statistics.median(run[0] for run in ffmpeg_runs)
    return {
        "size": size,
        "default_s": default_wall,
        "default_render_s": statistics.median(run[1] for run in default_runs),
        "default_cpu_s": statistics.median(run[2] for run in default_runs),
        "default_executor": default_runs[0][4],
        "ray_s": ray_wall,
        "ray_render_s": statistics.median(run[1] for run in ray_runs),
        "ray_cpu_s": statistics.median(run[2] for run in ray_runs),
        "ffmpeg_s": ffmpeg_wall,
        "ffmpeg_cpu_s": statistics.median(run[1] for run in ffmpeg_runs),
        "ratio": ffmpeg_wall / default_wall,
        "ray_ratio": ffmpeg_wall / ray_wall,
        "lingering": max(run[3] for run in default_runs + ray_runs),
    }


COLD_HEADER = (
    f"{'session':>8} {'tracks':>6} {'min':>5} {'cold s':>7} {'in render s':>12} {'CPU s':>7} "
    f"{'cold ray s':>11} {'in render s':>12} {'CPU s':>7} {'ffmpeg s':>9} {'ffmpeg CPU s':>13} {'ratio':>6} {'ratio ray':>10}"
)


def format_cold_row(row: dict) -> str:
    size = row["size"]
    return (
        f"{size.label:>8} {size.tracks:>6} {size.minutes:>5g} {row['default_s']:>7.1f} {row['default_render_s']:>12.1f} {row['default_cpu_s']:>7.1f} "
        f"{row['ray_s']:>11.1f} {row['ray_render_s']:>12.1f} {row['ray_cpu_s']:>7.1f} "
        f"{row['ffmpeg_s']:>9.1f} {row['ffmpeg_cpu_s']:>13.1f} {row['ratio']:>5.2f}x {row['ray_ratio']:>9.2f}x\n"
        f"  the default executor here: {row['default_executor']}"
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
    parser.add_argument(
        "--sessions", type=parse_sizes, default=None, help=f"comma-separated TRACKSxMINUTES or {SONG.label} (default 16x3; {SONG.label} with --cold)"
    )
    parser.add_argument("--memory-check", action="store_true", help=f"render {MEMORY_CHECK.replace(',', ' and ')} instead and compare their peak memory")
    parser.add_argument("--cold", action="store_true", help="time `mixfarm render` as a new process (the default executor, then --executor ray) beside ffmpeg")
    parser.add_argument("--chunk-s", type=float, default=DEFAULT_CHUNK_S, help=f"mixfarm's time chunk in seconds (default {DEFAULT_CHUNK_S:g}, the engine's)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="renders per session and renderer; walls are medians, memory the highest peak (default 1; 3 with --memory-check)"
    )
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the temporary sessions (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the sessions and renders, and print where they are")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats: must be at least 1")
    if args.cold and args.memory_check:
        parser.error("--cold and --memory-check: choose one")
    if args.memory_check:
        args.sessions = parse_sizes(MEMORY_CHECK)
        args.repeats = args.repeats or MEMORY_CHECK_REPEATS
    args.sessions = args.sessions or [SONG if args.cold else Size(16, 3.0)]
    args.repeats = args.repeats or 1
    return args


def run_warm(root: Path, args: argparse.Namespace, options: FfmpegOptions) -> None:
    """Render every session on one warm Ray cluster, in process and with the peers; print the table."""
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
        f"pedalboard {pedalboard.__version__}; {args.repeats} run(s) each, median wall; load average {os.getloadavg()[0]:.2f} before the first session"
    )
    print(f"idle process tree before rendering: RSS {idle_rss / MB:.0f} MB, PSS {idle_pss / MB:.0f} MB")
    print(
        "realtime = session seconds / mixfarm wall s; CPU s = user + system seconds of all its processes (less sensitive to other load); "
        "ratio = ffmpeg wall / mixfarm wall; ffmpeg skips loudness normalisation (one pass, no -14 LUFS)"
    )
    print(
        "local = mixfarm in process (LocalExecutor); Ray/local CPU = Ray CPU s / local CPU s; pedalboard = the nearest pedalboard chains in "
        "process, no loudness normalisation; local/pb CPU = local CPU s / pedalboard CPU s. Every Ray render runs before the in-process ones, "
        "the Ray cluster is stopped before them, and they run in a new process as `mixfarm render` would."
    )
    # Every Ray render first: the in-process renders leave memory in this process, which is the Ray driver and counted.
    rows = [measure_mixfarm(size, root / f"{number}-{size.label}", executor, args) for number, size in enumerate(args.sessions, 1)]
    # An idle Ray cluster still polls: its threads in this process and its daemons would be counted against the in-process renders.
    executor.shutdown()
    print(HEADER, flush=True)
    for index, row in enumerate(rows):
        rows[index] = measure_peers(row, args, options)
        print(format_row(rows[index]), flush=True)
    if args.memory_check:
        print(memory_comparison(rows, idle_pss / MB))


def run_cold_mode(root: Path, args: argparse.Namespace, options: FfmpegOptions) -> None:
    """Time every session as new processes: mixfarm's command line (as it is, then on Ray) and ffmpeg; print the table."""
    become_subreaper()
    print(
        f"cold command-line renders: `mixfarm render SESSION -o OUT --json --chunk-s {args.chunk_s:g}` (the default executor), then with --executor ray "
        "(its own local cluster); "
        f"ffmpeg {ffmpeg_version()}; {os.cpu_count()} CPUs; {args.repeats} run(s) each, median wall; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        "cold s = wall until the command exits; in render s = the report's wall_s (loading the session to the written outputs; the rest is start-up); "
        "CPU s = user + system seconds of the command and all its descendants, Ray's lingering workers included; "
        "ratio = ffmpeg wall / cold wall; ratio ray = ffmpeg wall / cold ray wall"
    )
    print(COLD_HEADER, flush=True)
    for number, size in enumerate(args.sessions, 1):
        row = measure_cold(size, root / f"{number}-{size.label}", args, options)
        print(format_cold_row(row), flush=True)
        if row["lingering"]:
            print(f"  {row['lingering']} descendant process(es) still ran {COLD_LINGER_S:g} s after a command exited: their CPU seconds are not counted")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not on the PATH (Debian: apt-get install ffmpeg)", file=sys.stderr)
        return 2
    if args.cold and shutil.which("mixfarm") is None:
        print("mixfarm is not on the PATH (pip install -e .)", file=sys.stderr)
        return 2
    options = ffmpeg_options()
    root = Path(tempfile.mkdtemp(prefix="mixfarm-bench-", dir=args.tmp))
    try:
        (run_cold_mode if args.cold else run_warm)(root, args, options)
    finally:
        if args.keep:
            print(f"sessions and renders kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
