"""``mixfarm import`` and ``mixfarm export``: a DAW project in as a session, a session out as a DAWproject."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Commands

def _export_dawproject(loaded, target: Path) -> None:
    from farm.projects.dawproject.exporter import export_dawproject

    export_dawproject(loaded, target)


EXPORTERS = {"dawproject": _export_dawproject}
"""Export format -> the function that writes a loaded session as a project file."""


def import_(args: argparse.Namespace) -> int:
    """Import a project into a folder; print what it holds and every loss; with ``--strict`` any loss fails."""
    from farm.errors import ProjectError
    from farm.projects import import_project

    project = Path(args.project)
    out_dir = Path(args.output) if args.output else project.with_suffix("")
    imported = import_project(project, out_dir, force=args.force)
    report = imported.report
    if args.json:
        print(json.dumps({"session": str(imported.session_path), **report.to_dict()}, indent=2))
    else:
        counts = report.counts
        print(
            f"{imported.session_path}: {counts['tracks']} track(s), {counts['buses']} bus(es), {counts['clips']} clip(s), "
            f"{len(report.media)} media file(s); {len(report.losses)} loss(es), {len(report.notes)} note(s)"
        )
    for line in report.lines("mixfarm import"):
        print(line, file=sys.stderr)
    if args.strict and report.losses:
        raise ProjectError(f"{project}: {len(report.losses)} thing(s) could not be translated (--strict); see {out_dir / 'import_report.json'}")
    return 0


def export(args: argparse.Namespace) -> int:
    """Write a session as a project of another format."""
    from farm.errors import ProjectError
    from farm.session import load

    target = Path(args.output)
    if target.exists() and not args.force:
        raise ProjectError(f"{target}: already exists; pass --force to replace it")
    loaded = load(args.session)
    EXPORTERS[args.to](loaded, target)
    print(f"{target}: {len(loaded.session.tracks)} track(s), {len(loaded.session.buses)} bus(es), written as {args.to}")
    return 0


def register(commands: Commands) -> None:
    """Add ``import`` and ``export``."""
    parser = commands.add(
        "import",
        import_,
        help="import a DAW project (.dawproject, .rpp, .aaf) as a session",
        description="Write DIR/session.yaml, the media in DIR/media and DIR/import_report.json, which names everything that could not be translated.",
    )
    parser.add_argument("project", metavar="PROJECT", help="the project file")
    parser.add_argument("-o", "--output", metavar="DIR", help="the folder to write (default: the project's path without its ending)")
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) if anything could not be translated")
    parser.add_argument("--force", action="store_true", help="replace DIR/session.yaml if it exists")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser = commands.add("export", export, help="write a session as a DAW project", description="Write SESSION as a project a DAW opens.")
    parser.add_argument("session", metavar="SESSION", help="the session file")
    parser.add_argument("--to", choices=sorted(EXPORTERS), default="dawproject", help="the project format (dawproject)")
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="the project file to write")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
