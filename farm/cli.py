"""The ``mixfarm`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dsp.errors import DspError

from . import storage
from .errors import FarmError, SessionError


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


def _validate(args: argparse.Namespace) -> int:
    from .plan import compile_plan
    from .session import load

    loaded = load(args.session, max_duration_s=_max_duration(args), check_samples=True)
    plan = compile_plan(loaded)
    session = loaded.session
    print(
        f"{args.session}: valid: {session.name!r}, {len(session.tracks)} track(s), {len(session.buses)} bus(es), "
        f"{plan.timeline_frames / plan.sample_rate:.2f} s at {plan.sample_rate} Hz, {len(session.outputs)} output(s)"
    )
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .session import Session

    print(json.dumps(Session.model_json_schema(), indent=2))
    return 0


def _executor(args: argparse.Namespace):
    from .executor import LocalExecutor, RayExecutor

    return LocalExecutor() if args.executor == "local" else RayExecutor(args.address)


def _render_and_print(session_path: str, out_dir: str, args: argparse.Namespace) -> dict:
    from .progress import ProgressBar
    from .render import render

    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() and not args.json else None
    report = render(session_path, out_dir, chunk_s=args.chunk_s, executor=_executor(args), progress=bar, max_duration_s=_max_duration(args))
    if bar:
        bar.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return report
    output = report["output"]
    print(f"rendered {report['session']!r}: {report['duration_s']:.1f} s in {report['wall_s']:.1f} s ({report['realtime_factor']:.1f}x realtime)")
    loudness = output["integrated_lufs"]
    print(f"  master: {loudness:.2f} LUFS, true peak {output['true_peak_dbtp']:.2f} dBTP" if loudness is not None else "  master: silent")
    for item in report["deliverables"]:
        print(f"  {out_dir.rstrip('/')}/{item['path']}  ({item['format']}, {item['bit_depth']}, {item['sample_rate']} Hz)")
    print(f"  {out_dir.rstrip('/')}/report.json")
    return report


def _render(args: argparse.Namespace) -> int:
    if args.output:
        out_dir = args.output
    elif storage.is_remote(args.session):
        out_dir = f"{storage.parent(args.session)}/render"
    else:
        out_dir = str(Path(args.session).resolve().parent / "render")
    _render_and_print(args.session, out_dir, args)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import write_demo

    folder = Path(args.folder)
    session_path = write_demo(folder)
    if not args.json:
        print(f"demo session written: {session_path}")
    _render_and_print(str(session_path), str(folder / "render"), args)
    return 0


def _max_duration(args: argparse.Namespace) -> float | None:
    """``--max-duration-s`` as load() takes it: 0 means no limit."""
    return args.max_duration_s or None


def _non_negative_seconds(text: str) -> float:
    seconds = float(text)
    if not (seconds >= 0 and seconds != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return seconds


def _add_duration_option(parser: argparse.ArgumentParser) -> None:
    from .session import DEFAULT_MAX_DURATION_S

    parser.add_argument(
        "--max-duration-s",
        type=_non_negative_seconds,
        default=DEFAULT_MAX_DURATION_S,
        help=f"the longest session accepted, in seconds, master tail included (default {DEFAULT_MAX_DURATION_S:g}; 0: no limit)",
    )


def _add_render_options(parser: argparse.ArgumentParser) -> None:
    _add_duration_option(parser)
    parser.add_argument("--chunk-s", type=float, default=10.0, help="time-chunk length in seconds (default 10); longer than the song renders in one pass")
    parser.add_argument("--address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--executor", choices=("ray", "local"), default="ray", help="ray (default) or local: in this process, no cluster")
    parser.add_argument("--json", action="store_true", help="print the render report as JSON on stdout")


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

    validate = commands.add_parser("validate", help="check a session file and list every problem")
    validate.add_argument("session", help="session file (YAML or JSON)")
    _add_duration_option(validate)
    validate.set_defaults(run=_validate)

    schema = commands.add_parser("schema", help="print the session format's JSON Schema")
    schema.set_defaults(run=_schema)

    render = commands.add_parser("render", help="render a session to its deliverables and report.json")
    render.add_argument("session", help="session file (YAML or JSON): a path or a storage URI such as s3://bucket/song/session.yaml")
    render.add_argument("-o", "--output", help="output folder, a path or URI (default: render/ beside the session file)")
    _add_render_options(render)
    render.set_defaults(run=_render)

    demo = commands.add_parser("demo", help="synthesise a demo session and render it")
    demo.add_argument("folder", nargs="?", default="mixfarm-demo", help="where to write it (default ./mixfarm-demo)")
    _add_render_options(demo)
    demo.set_defaults(run=_demo)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run the chosen command; returns the exit status."""
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except SessionError as exc:
        print(f"mixfarm {args.command}: {exc}", file=sys.stderr)
        return 1
    except (DspError, FarmError, ValueError, OSError) as exc:
        print(f"mixfarm {args.command}: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Run farm's commands (``mixfarm`` itself adds the service's: see dashboard.cli)."""
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
