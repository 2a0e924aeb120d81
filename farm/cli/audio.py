"""``mixfarm analyze`` and ``mixfarm tone``: measure an audio file, write a reference tone."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Commands

REPORT_ROWS = (
    ("integrated loudness", "integrated_lufs", "LUFS"),
    ("loudness range", "loudness_range_lu", "LU"),
    ("true peak", "true_peak_dbtp", "dBTP"),
    ("sample peak", "sample_peak_dbfs", "dBFS"),
    ("momentary max", "momentary_max_lufs", "LUFS"),
    ("short-term max", "short_term_max_lufs", "LUFS"),
)


def analyze(args: argparse.Namespace) -> int:
    """Print the file's loudness report, as a table or one JSON object."""
    from dsp.analyze import analyze_file

    facts = analyze_file(args.file, args.true_peak_oversampling).to_dict()
    if args.json:
        print(json.dumps(facts, allow_nan=False))
        return 0
    print(f"{args.file}")
    for label, key, unit in REPORT_ROWS:
        value = facts[key]
        shown = "-inf" if value is None else f"{value:.1f}"
        print(f"  {label:20s} {shown:>7s} {unit}")
    print(f"  {'duration':20s} {facts['duration_s']:>7.2f} s")
    print(f"  {'format':20s} {facts['sample_rate']} Hz, {facts['channels']} channel(s)")
    return 0


def tone(args: argparse.Namespace) -> int:
    """Write a sine tone as a 24-bit WAV."""
    from dsp import io as audio_io
    from dsp.generators import sine_tone

    samples = sine_tone(args.freq_hz, args.duration_s, args.sample_rate, args.level_dbfs, args.channels)
    audio_io.write(args.file, samples, args.sample_rate, format="wav", bit_depth="24")
    print(f"wrote {args.file}: {args.freq_hz:g} Hz at {args.level_dbfs:g} dBFS, {args.duration_s:g} s")
    return 0


def register(commands: Commands) -> None:
    """Add ``analyze`` and ``tone``."""
    parser = commands.add("analyze", analyze, help="loudness report of an audio file (BS.1770-4 / EBU R128)")
    parser.add_argument("file", help="an audio file in any format libsndfile reads")
    parser.add_argument("--json", action="store_true", help="print one JSON object (silence gives null)")
    parser.add_argument("--true-peak-oversampling", type=int, choices=(4, 8), default=4, help="true-peak oversampling (default 4)")

    parser = commands.add("tone", tone, help="write a sine reference tone as a 24-bit WAV")
    parser.add_argument("file", help="the WAV file to write")
    parser.add_argument("--freq-hz", type=float, default=1000.0, help="frequency in Hz (default 1000)")
    parser.add_argument("--level-dbfs", type=float, default=-23.0, help="peak level per channel in dBFS (default -23)")
    parser.add_argument("--duration-s", type=float, default=20.0, help="length in seconds (default 20)")
    parser.add_argument("--sample-rate", type=int, default=48000, help="sample rate in Hz (default 48000)")
    parser.add_argument("--channels", type=int, choices=(1, 2), default=2, help="1 or 2 (default 2)")
