"""``mixfarm validate`` and ``mixfarm schema``: check a session file, print the format's JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from .options import add_max_duration, max_duration

if TYPE_CHECKING:
    from . import Commands


def validate(args: argparse.Namespace) -> int:
    """Load the session with every check, stems read through; print what it holds."""
    from farm.session import load

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


def register(commands: Commands) -> None:
    """Add ``validate`` and ``schema``."""
    parser = commands.add("validate", validate, help="check a session file and list every problem")
    parser.add_argument("session", help="session file (YAML or JSON)")
    add_max_duration(parser)
    commands.add("schema", schema, help="print the session format's JSON Schema")
