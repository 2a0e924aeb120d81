"""``mixfarm validate``, ``mixfarm schema`` and ``mixfarm init``: check a session file, print the format's JSON Schema, start a session from a folder of stems."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .options import add_max_duration, max_duration

if TYPE_CHECKING:
    from . import Commands


def validate(args: argparse.Namespace) -> int:
    """Load the session (or album) with every check, a session's stems read through; print what it holds."""
    from farm.album import is_album, load_album
    from farm.session import load, read_document
    from farm.storage import Location

    if is_album(read_document(Location.of(args.session))):
        album = load_album(args.session, max_duration_s=max_duration(args))
        total_s = sum(song.duration_s for song in album.songs)
        print(f"{args.session}: valid album: {album.album.name!r}, {len(album.songs)} song(s), {total_s:.2f} s of songs, {len(album.album.outputs)} output(s)")
        return 0
    loaded = load(args.session, max_duration_s=max_duration(args), check_samples=True)
    session = loaded.session
    print(
        f"{args.session}: valid: {session.name!r}, {len(session.tracks)} track(s), {len(session.buses)} bus(es), "
        f"{loaded.timeline_frames / loaded.sample_rate:.2f} s at {loaded.sample_rate} Hz, {len(session.outputs)} output(s)"
    )
    return 0


def schema(args: argparse.Namespace) -> int:
    """Print the session model's JSON Schema."""
    from farm.session import Session

    print(json.dumps(Session.model_json_schema(), indent=2))
    return 0


def init(args: argparse.Namespace) -> int:
    """Write a session of the stems in a folder (see :mod:`farm.session.from_stems`), check it, and say what was found."""
    from farm.errors import StemsFolderError
    from farm.session import load
    from farm.session.from_stems import session_from_stems
    from farm.session.writing import dump_session

    stems_dir = Path(args.stems_dir)
    target = Path(args.output) if args.output else stems_dir / "session.yaml"
    if target.exists() and not args.force:
        raise StemsFolderError(f"{target}: already exists; pass --force to replace it")
    found = session_from_stems(stems_dir, target.parent, args.name)
    target.write_text(dump_session(found.document), encoding="utf-8")
    loaded = load(target)
    report = {"session": str(target), **found.report(), "duration_s": loaded.timeline_frames / loaded.sample_rate}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        buses = ", ".join(found.buses) or "none"
        print(f"{target}: {report['tracks']} track(s), bus(es): {buses}; {found.sample_rate} Hz; {report['duration_s']:.2f} s with the master's tail")
        rates = ", ".join(f"{rate} Hz x {count}" for rate, count in report["sample_rates"].items())
        print(f"  stems: {rates}; {report['shortest_s']:.2f} to {report['longest_s']:.2f} s long")
        for path in report["resampled"]:
            print(f"  resampled to {found.sample_rate} Hz as it plays: {path}")
    for item in report["skipped"]:
        print(f"mixfarm init: skipped {item['path']}: {item['why']}", file=sys.stderr)
    return 0


def register(commands: Commands) -> None:
    """Add ``validate``, ``schema`` and ``init``."""
    parser = commands.add("validate", validate, help="check a session file and list every problem")
    parser.add_argument("session", help="session file (YAML or JSON)")
    add_max_duration(parser)
    commands.add("schema", schema, help="print the session format's JSON Schema")
    parser = commands.add(
        "init",
        init,
        help="start a session from a folder of stems",
        description="Write a session with one track per audio file in STEMS_DIR (named after the file) and one bus per subfolder.",
    )
    parser.add_argument("stems_dir", metavar="STEMS_DIR", help="the folder of stems")
    parser.add_argument("-o", "--output", metavar="SESSION", help="the session file to write, in STEMS_DIR or a folder above it (default STEMS_DIR/session.yaml)")
    parser.add_argument("--name", help="the session's name (default: the folder's)")
    parser.add_argument("--force", action="store_true", help="replace SESSION if it exists")
    parser.add_argument("--json", action="store_true", help="print what was found as JSON")
