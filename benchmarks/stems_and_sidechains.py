"""What stems and sidechains cost a render, against the same session without them.

Renders render_session.py's 17-track song (one minute; drum and reverb
buses, a master chain and the loudness stage) in this process on the local
executor, alternating between variants, and prints each variant's median
wall and CPU seconds and its ratio to the plain session:

- plain: the song as render_session.py renders it;
- stems: plus an output of every strip's stem (``stems: all``, 32-bit
  float), so those strips carry their state from chunk to chunk;
- sidechains: plus a compressor on every non-drum track keyed by the
  first drum track, and one on the reverb bus keyed by the drum bus.

    python benchmarks/stems_and_sidechains.py [--repeats 3] [--chunk-s 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_session import SONG, build_session, render_local  # noqa: E402

DUCKER = {"type": "compressor", "threshold_db": -30.0, "ratio": 3.0, "attack_s": 0.005, "release_s": 0.1}


def variants(plain: dict) -> dict[str, dict]:
    """The plain session document and its variants with stems and with sidechains."""
    stems = dict(plain, outputs=plain["outputs"] + [{"path": "stems/{name}.wav", "stems": "all", "bit_depth": "32f"}])
    drums = [track["name"] for track in plain["tracks"] if track["output"] == "drums"]
    keyed_tracks = [
        track if track["output"] == "drums" else dict(track, fx=track["fx"] + [dict(DUCKER, sidechain={"from": drums[0]})]) for track in plain["tracks"]
    ]
    keyed_buses = [bus if bus["name"] != "verb" else dict(bus, fx=bus["fx"] + [dict(DUCKER, sidechain={"from": "drums"})]) for bus in plain["buses"]]
    return {"plain": plain, "stems": stems, "sidechains": dict(plain, tracks=keyed_tracks, buses=keyed_buses)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="renders per variant; the median is kept (default 3)")
    parser.add_argument("--chunk-s", type=float, default=10.0, help="the time chunk in seconds (default 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mixfarm-bench-") as folder:
        root = Path(folder)
        session_path, _ = build_session(root, SONG)
        documents = variants(yaml.safe_load(session_path.read_text()))
        paths = {}
        for name, document in documents.items():
            paths[name] = root / f"{name}.yaml"
            paths[name].write_text(yaml.safe_dump(document, sort_keys=False))
        render_local(paths["plain"], root / "warm-up", args.chunk_s)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        for run in range(args.repeats):
            for name, path in paths.items():
                times[name].append(render_local(path, root / f"{name}-{run}", args.chunk_s))
        print(f"{SONG.label}: 17 tracks, {SONG.seconds:g} s; local executor, chunk_s {args.chunk_s:g}; median of {args.repeats}")
        print(f"{'variant':12s} {'wall s':>8s} {'CPU s':>8s} {'wall/plain':>11s} {'CPU/plain':>10s}")
        base_wall = statistics.median(wall for wall, _ in times["plain"])
        base_cpu = statistics.median(cpu for _, cpu in times["plain"])
        for name, runs in times.items():
            wall, cpu = statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs)
            print(f"{name:12s} {wall:8.2f} {cpu:8.2f} {wall / base_wall:11.2f} {cpu / base_cpu:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
