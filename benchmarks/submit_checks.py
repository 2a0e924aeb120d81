"""What the checks at upload cost: validating a session with and without reading every stem through.

The service validates each uploaded session with ``check_samples=True``: every
stem is read once, in blocks, for NaN or infinite samples and for digital
silence under a loudness target. This writes ``--tracks`` stems of
``--minutes`` of 24-bit stereo at 48 kHz, then times ``farm.session.load``
both ways (median of ``--repeats``) and prints the wall times, the rate the
scan reads at (MB of stem files per second and realtime factor) and the
ratio of the two, plus the peak memory of the scan (tracemalloc, numpy's
buffers included).

    python benchmarks/submit_checks.py [--tracks 16] [--minutes 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile
import yaml

from farm.session import load

RATE = 48000


def write_session(folder: Path, tracks: int, minutes: float) -> tuple[Path, int]:
    """A session of ``tracks`` noise stems; returns its path and the stems' bytes on disk."""
    rng = np.random.default_rng(0)
    frames = int(minutes * 60 * RATE)
    (folder / "stems").mkdir()
    total = 0
    for index in range(tracks):
        path = folder / "stems" / f"t{index}.wav"
        with soundfile.SoundFile(path, "w", RATE, 2, subtype="PCM_24") as handle:
            for start in range(0, frames, RATE * 10):
                handle.write(0.1 * rng.standard_normal((min(RATE * 10, frames - start), 2)))
        total += path.stat().st_size
    session = {
        "format": "mixfarm/1",
        "name": "scan",
        "tracks": [{"name": f"t{index}", "file": f"stems/t{index}.wav"} for index in range(tracks)],
        "master": {"loudness": {"preset": "spotify"}},
    }
    path = folder / "session.yaml"
    path.write_text(yaml.safe_dump(session))
    return path, total


def timed(session: Path, check_samples: bool, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        load(session, check_samples=check_samples)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mixfarm-scan-") as folder:
        session, stem_bytes = write_session(Path(folder), args.tracks, args.minutes)
        audio_s = args.tracks * args.minutes * 60
        headers_s = timed(session, False, args.repeats)
        scan_s = timed(session, True, args.repeats)
        tracemalloc.start()
        load(session, check_samples=True)
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"{args.tracks} stems x {args.minutes:g} min, 24-bit stereo 48 kHz: {stem_bytes / 1e6:.0f} MB, median of {args.repeats}")
    print(f"validate, headers only:     {headers_s * 1000:8.1f} ms")
    print(f"validate, stems read through: {scan_s * 1000:6.1f} ms  ({stem_bytes / 1e6 / scan_s:.0f} MB/s, {audio_s / scan_s:.0f}x realtime)")
    print(f"ratio scan / headers: {scan_s / headers_s:.1f}; peak traced memory of the scan: {peak_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
