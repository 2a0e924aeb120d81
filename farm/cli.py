"""The ``mixfarm`` command line."""

from __future__ import annotations

import argparse
import json
import math
import sys

from dsp.errors import DspError

from .errors import FarmError


def _analyze(args: argparse.Namespace) -> int:
    from .analyze import analyze_file

    report = analyze_file(args.file, args.true_peak_oversampling)
    facts = report.to_dict()
    if args.json:
        print(json.dumps(facts, allow_nan=False))
        return 0
    print(f"{args.file}")
    rows = [
        ("integrated loudness", "integrated_lufs", "LUFS"),
        ("loudness range", "loudness_range_lu", "LU"),
        ("true peak", "true_peak_dbtp", "dBTP"),
        ("sample peak", "sample_peak_dbfs", "dBFS"),
        ("momentary max", "momentary_max_lufs", "LUFS"),
        ("short-term max", "short_term_max_lufs", "LUFS"),
    ]
    for label, key, unit in rows:
        value = facts[key]
        shown = "-inf" if value is None else f"{value:.1f}"
        print(f"  {label:20s} {shown:>7s} {unit}")
    print(f"  {'duration':20s} {facts['duration_s']:>7.2f} s")
    print(f"  {'format':20s} {facts['sample_rate']} Hz, {facts['channels']} channel(s)")
    return 0


def _tone(args: argparse.Namespace) -> int:
    from dsp import io as audio_io
    from dsp.generators import sine_tone

    tone = sine_tone(args.freq_hz, args.duration_s, args.sample_rate, args.level_dbfs, args.channels)
    audio_io.write(args.file, tone, args.sample_rate, format="wav", bit_depth="24")
    print(f"wrote {args.file}: {args.freq_hz:g} Hz at {args.level_dbfs:g} dBFS, {args.duration_s:g} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="mixfarm", description="mixfarm: a distributed mix-render farm.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    analyze = commands.add_parser("analyze", help="loudness report of an audio file (BS.1770-4 / EBU R128)")
    analyze.add_argument("file", help="an audio file in any format libsndfile reads")
    analyze.add_argument("--json", action="store_true", help="print one JSON object (silence gives null)")
    analyze.add_argument("--true-peak-oversampling", type=int, choices=(4, 8), default=4, help="true-peak oversampling (default 4)")
    analyze.set_defaults(run=_analyze)

    tone = commands.add_parser("tone", help="write a sine reference tone as a 24-bit WAV")
    tone.add_argument("file", help="the WAV file to write")
    tone.add_argument("--freq-hz", type=float, default=1000.0, help="frequency in Hz (default 1000)")
    tone.add_argument("--level-dbfs", type=float, default=-23.0, help="peak level per channel in dBFS (default -23)")
    tone.add_argument("--duration-s", type=float, default=20.0, help="length in seconds (default 20)")
    tone.add_argument("--sample-rate", type=int, default=48000, help="sample rate in Hz (default 48000)")
    tone.add_argument("--channels", type=int, choices=(1, 2), default=2, help="1 or 2 (default 2)")
    tone.set_defaults(run=_tone)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (DspError, FarmError, ValueError, OSError) as exc:
        print(f"mixfarm {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
