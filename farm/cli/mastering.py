"""``mixfarm master``: master finished stereo mixes in one command, a session (or an album) written beside the results.

The output folder becomes a complete job: the mixes (and the reference) are
linked into it (hard links where the disk allows, else copies), the session
or album file that names them is written there, and the deliverables and
``report.json`` go beside them. ``mixfarm render DIR/master.yaml -o DIR``
renders it again; edit the file first to change anything (formats, the
target, the chain).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from farm.album.loading import safe_name
from farm.errors import FarmError
from farm.session import LOUDNESS_PRESETS
from farm.session.writing import dump_session

from .rendering import add_render_options, render_and_print

if TYPE_CHECKING:
    from . import Commands

DEFAULT_PRESET = "spotify"
MIXES = "mixes"
REFS = "refs"


def master(args: argparse.Namespace) -> int:
    """Write the session (or album) for the mixes into the output folder, then render it there."""
    mixes = [Path(mix) for mix in args.mixes]
    for mix in [*mixes, *([Path(args.reference)] if args.reference else [])]:
        if not mix.is_file():
            raise FarmError(f"{mix}: no such file")
    out_dir = Path(args.output) if args.output else mixes[0].parent / "mastered"
    out_dir.mkdir(parents=True, exist_ok=True)
    linked = [_link(mix, out_dir / MIXES) for mix in mixes]
    loudness = _loudness(args)
    match = {"reference": _link(Path(args.reference), out_dir / REFS)} if args.reference else None
    if args.album:
        document = _album(out_dir, linked, loudness, match)
        paths = [_write(out_dir / "album.yaml", document)]
    else:
        paths = [_write(out_dir / f"{_stem(mix)}.yaml" if len(mixes) > 1 else out_dir / "master.yaml", _session(out_dir, mix, loudness, match)) for mix in linked]
    reports = []
    for path in paths:
        if not args.json:
            print(f"wrote {path}  (render it again: mixfarm render {path} -o {out_dir})")
        reports.append(render_and_print(str(path), str(out_dir), args, print_json=False))
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
    return 0


def _loudness(args: argparse.Namespace) -> dict:
    """The loudness target from --preset, --target-lufs and --ceiling-dbtp (default: the spotify preset)."""
    if args.preset is None and (args.target_lufs is None) != (args.ceiling_dbtp is None):
        raise FarmError("give --preset, or both --target-lufs and --ceiling-dbtp (either may override a preset's)")
    loudness = {"preset": args.preset or (DEFAULT_PRESET if args.target_lufs is None else None)}
    if args.target_lufs is not None:
        loudness["target_lufs"] = args.target_lufs
    if args.ceiling_dbtp is not None:
        loudness["true_peak_dbtp"] = args.ceiling_dbtp
    return {key: value for key, value in loudness.items() if value is not None}


def _stem(path: str) -> str:
    return safe_name(Path(path).stem)


def _session(out_dir: Path, mix: str, loudness: dict, match: dict | None) -> dict:
    """A session mastering one mix: the mix as its one track, the target, matching, a 24-bit WAV named after the mix."""
    master = {"loudness": loudness, "tail_s": 0.0}
    if match:
        master["match"] = match
    return {
        "format": "mixfarm/1",
        "name": _stem(mix),
        "tracks": [{"name": "mix", "file": mix}],
        "master": master,
        "outputs": [{"path": f"{_stem(mix)} (mastered).wav", "bit_depth": 24}],
        "metadata": {"title": Path(mix).stem},
    }


def _album(out_dir: Path, mixes: list[str], loudness: dict, match: dict | None) -> dict:
    """An album of the mixes in the order given: 2 s gaps, album-mode loudness, a file per song, the continuous file and its cue sheet."""
    master = {"loudness": {**loudness, "mode": "album"}}
    if match:
        master["match"] = match
    return {
        "format": "mixfarm-album/1",
        "name": safe_name(out_dir.resolve().name),
        "songs": [{"file": mix, "title": Path(mix).stem} for mix in mixes],
        "master": master,
        "outputs": [{"path": "{index:02d} {title}.wav", "bit_depth": 24}, {"path": "album.wav", "continuous": True, "bit_depth": 24}, {"cue": "album.cue"}],
    }


def _link(source: Path, folder: Path) -> str:
    """``source`` linked (or copied) into ``folder``; its path relative to the output folder."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    if target.exists() and os.path.samefile(source, target):
        return f"{folder.name}/{target.name}"
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return f"{folder.name}/{target.name}"


def _write(path: Path, document: dict) -> Path:
    path.write_text(dump_session(document), encoding="utf-8")
    return path


def register(commands: Commands) -> None:
    """Add ``master``."""
    parser = commands.add(
        "master",
        master,
        help="master finished stereo mixes to a loudness target (optionally matching a reference, or as an album)",
        description="Master finished stereo mixes: each to the target, or with --album all as one album. The session or album file "
        "is written into the output folder with the mixes linked beside it, so the job can be edited and rendered again.",
    )
    parser.add_argument("mixes", nargs="+", metavar="MIX", help="stereo (or mono) mix files, in album order with --album")
    parser.add_argument("--preset", choices=sorted(LOUDNESS_PRESETS), help=f"a platform's target and ceiling (default {DEFAULT_PRESET})")
    parser.add_argument("--target-lufs", type=float, help="integrated loudness target in LUFS (overrides the preset's)")
    parser.add_argument("--ceiling-dbtp", type=float, help="true-peak ceiling in dBTP (overrides the preset's)")
    parser.add_argument("--reference", help="a finished master whose tonal balance to match")
    parser.add_argument("--album", action="store_true", help="master the mixes as one album: one gain, 2 s gaps, a continuous file and a cue sheet")
    parser.add_argument("-o", "--output", help="output folder (default: mastered/ beside the first mix)")
    add_render_options(parser)
