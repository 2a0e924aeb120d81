"""Wall time, realtime factor and where the time goes when an album is mastered: album-mode loudness, matching, four deliverables a song.

It writes ``--songs`` finished mixes of ``--minutes`` each (48 kHz, 24-bit
stereo WAV; chords, a bass line and a noise beat made deterministically with
numpy, each song at its own level and tonal balance) and a reference (the
same kind of material, 3 dB brighter above 4 kHz and 2 dB leaner below
120 Hz), then an album file:
album mode at the spotify preset (-14 LUFS, -1 dBTP), ``master.match`` on
the reference, and per song a 24-bit WAV, a 24-bit FLAC, an MP3 at 320
kbit/s and an Opus file. It renders the album as ``mixfarm render`` would
(``--executor local``: this process, one thread per CPU; ``ray``: a local
Ray cluster) and prints:

- wall seconds, the album's audio seconds and the realtime factor;
- the task seconds by kind (``mix`` the master chain's pass, ``match`` the
  matching analyses, ``master`` the loudness stage's passes, ``deliver`` the
  deliverables' chunks) and the share of the analysis passes: the matching
  analyses plus the loudness passes that were measured and thrown away
  (every pass of a song's master but the kept one);
- with ``--profile``, the functions that took the most cumulative time in
  this process (where the encoders, decoders and file writing run).

Run: ``python benchmarks/master_album.py [--songs 10] [--minutes 3] [--executor local|ray] [--profile]``.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile
import yaml

RATE = 48000


def song(seconds: float, seed: int) -> np.ndarray:
    """A few minutes of music-like stereo: a chord progression, a bass line and a noise beat, level and brightness set by the seed.

    The bass has a few harmonics and the beat's noise falls off above 1 kHz
    (a one-pole lowpass), so the spectrum slopes down as a mix's does.
    """
    rng = np.random.default_rng(seed)
    frames = int(seconds * RATE)
    t = np.arange(frames) / RATE
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    bar = (t // 2.0).astype(int) % 4
    degrees = np.array([0, 5, 7, 3])[bar]
    chord = sum(np.sin(2 * np.pi * root * 2 ** ((degrees + step) / 12) * 2 * t + phase) for step, phase in ((0, 0.0), (4, 1.0), (7, 2.0)))
    bass_hz = root / 2 * 2 ** (degrees / 12)
    bass = sum(np.sin(2 * np.pi * bass_hz * harmonic * t) / harmonic for harmonic in (1, 2, 3, 5)) * 0.4
    pole = np.exp(-2 * np.pi * (600 + 800 * rng.random()) / RATE)
    noise = scipy.signal.lfilter([1 - pole], [1, -pole], rng.standard_normal((frames, 2)), axis=0) * 4.0
    beat = noise * np.exp(-(t % 0.5) * (10 + 10 * rng.random()))[:, None]
    left = 0.15 * chord + bass * 0.5 + 0.3 * beat[:, 0]
    right = 0.15 * np.roll(chord, 240) + bass * 0.5 + 0.3 * beat[:, 1]
    level = 10 ** (-(rng.random() * 8.0) / 20)
    return np.stack([left, right], axis=1) * 0.3 * level


def write_album(folder: Path, songs: int, minutes: float) -> Path:
    (folder / "mixes").mkdir(parents=True)
    for index in range(songs):
        soundfile.write(folder / "mixes" / f"song{index + 1:02d}.wav", song(minutes * 60, index), RATE, subtype="PCM_24")
    from dsp.eq import EqBand, Equalizer

    brighter = Equalizer(RATE, bands=(EqBand("high_shelf", 4000.0, gain_db=3.0, q=0.7), EqBand("low_shelf", 120.0, gain_db=-2.0, q=0.7)))
    reference = brighter.process(song(minutes * 60, 99), brighter.init_state(2))[0]
    (folder / "refs").mkdir()
    soundfile.write(folder / "refs" / "reference.wav", np.clip(reference, -0.99, 0.99), RATE, subtype="PCM_24")
    album = {
        "format": "mixfarm-album/1",
        "name": "benchmark",
        "metadata": {"artist": "mixfarm benchmark", "album": "Benchmark"},
        "songs": [{"file": f"mixes/song{index + 1:02d}.wav", "title": f"Song {index + 1}"} for index in range(songs)],
        "master": {"match": {"reference": "refs/reference.wav"}, "loudness": {"preset": "spotify", "mode": "album"}},
        "outputs": [
            {"path": "wav/{index:02d} {title}.wav", "bit_depth": 24},
            {"path": "flac/{index:02d} {title}.flac", "format": "flac", "bit_depth": 24},
            {"path": "mp3/{index:02d} {title}.mp3", "format": "mp3", "bitrate_kbps": 320},
            {"path": "opus/{index:02d} {title}.opus", "format": "opus"},
        ],
    }
    path = folder / "album.yaml"
    path.write_text(yaml.safe_dump(album, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--profile", action="store_true", help="print this process's top functions by cumulative time")
    args = parser.parse_args()

    from farm.album import render_album
    from farm.engine.allocator import retain_freed_memory
    from farm.engine.executor import LocalExecutor, RayExecutor

    retain_freed_memory()
    with tempfile.TemporaryDirectory(prefix="mixfarm-bench-album-") as temp:
        folder = Path(temp)
        started = time.perf_counter()
        path = write_album(folder, args.songs, args.minutes)
        print(f"wrote {args.songs} mixes of {args.minutes:g} min and a reference in {time.perf_counter() - started:.1f} s")
        executor = LocalExecutor() if args.executor == "local" else RayExecutor()
        seconds = collections.Counter()
        counts = collections.Counter()

        def on_tasks(metas):
            for meta in metas:
                seconds[meta["kind"]] += meta["seconds"]
                counts[meta["kind"]] += 1

        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        report = render_album(path, folder / "out", executor=executor, on_tasks=on_tasks)
        if profile:
            profile.disable()
        wall_s = time.perf_counter() - started
        cpus = max(1, int(executor.cluster()["cpus"]))
        executor.shutdown()

    audio_s = sum(song["duration_s"] for song in report["songs"])
    passes = [song["loudness_passes"] for song in report["songs"]]
    songs = len(passes)
    master_s_per_pass = seconds["master"] / (sum(passes) + songs)  # each song's premaster makes one pass of its own
    thrown_away_s = master_s_per_pass * sum(count - 1 for count in passes)
    analysis_s = seconds["match"] + thrown_away_s
    total_task_s = sum(seconds.values())
    print(f"album: {args.songs} songs, {audio_s:.0f} s of audio, {len(report['deliverables'])} files, executor {args.executor}")
    print(f"wall {wall_s:.1f} s, realtime factor {audio_s / wall_s:.1f}x")
    print("task seconds by kind: " + ", ".join(f"{kind} {seconds[kind]:.1f} s ({counts[kind]} tasks)" for kind in sorted(seconds)))
    print(f"analysis passes: matching {seconds['match']:.1f} s + loudness passes measured and thrown away {thrown_away_s:.1f} s "
          f"= {analysis_s:.1f} s, {100 * analysis_s / max(total_task_s, 1e-9):.1f} % of task time ({100 * analysis_s / wall_s / cpus:.1f} % of wall x CPUs); "
          f"loudness passes per song: {passes}")
    print("songs: " + "; ".join(f"{song['index']}: {song['integrated_lufs']:.2f} LUFS {song['true_peak_dbtp']:.2f} dBTP" for song in report["songs"]))
    if profile:
        stream = io.StringIO()
        pstats.Stats(profile, stream=stream).sort_stats("cumulative").print_stats(25)
        print(stream.getvalue())


if __name__ == "__main__":
    main()
