"""The ``mixfarm`` command line.

farm's own commands live here, one module per group: :mod:`.audio`
(analyze, tone), :mod:`.sessions` (validate, schema, init), :mod:`.projects`
(import, export), :mod:`.rendering` (render, demo) and :mod:`.mastering` (master). Other packages add theirs through the ``mixfarm.commands``
entry point group: each entry names a ``register(commands)`` function that is
handed a :class:`Commands` (the service registers serve, submit, jobs and
cancel this way), so farm never imports them.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

from dsp.errors import DspError
from farm.errors import FarmError, SessionError

from . import audio, mastering, projects, rendering, sessions

ENTRY_POINT_GROUP = "mixfarm.commands"

Handler = Callable[[argparse.Namespace], int]
"""Runs a parsed command; returns the exit status."""


class Commands:
    """Where a group of commands adds its subcommands to ``mixfarm`` (the subcommands of ``parser``)."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(self, name: str, handler: Handler, help: str, description: str | None = None) -> argparse.ArgumentParser:
        """Add the command ``name`` run by ``handler``; returns its parser, for its arguments."""
        parser = self._subparsers.add_parser(name, help=help, description=description or help)
        parser.set_defaults(run=handler)
        return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser with farm's commands and every installed ``mixfarm.commands`` group."""
    parser = argparse.ArgumentParser(prog="mixfarm", description="mixfarm: a distributed mix-render farm.")
    commands = Commands(parser)
    for group in (audio, sessions, projects, rendering, mastering):
        group.register(commands)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda entry: entry.name):
        entry.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's arguments) and run the command; returns the exit status.

    1 means the session is invalid, 2 that the command failed; the message
    goes to stderr.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SessionError as exc:
        print(f"mixfarm {args.command}: {exc}", file=sys.stderr)
        return 1
    except (DspError, FarmError, ValueError, OSError) as exc:
        print(f"mixfarm {args.command}: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """The ``mixfarm`` console script (and ``python -m farm.cli``): :func:`main` on the process's arguments, then exit with its status.

    The heap is frozen (:func:`gc.freeze`) twice. Once before the command
    runs: the modules imported by then live as long as the process, so the
    collector need not walk them again. And once when it returns: the
    interpreter's last full collection at exit would otherwise walk every
    object the command made (about half a second after a render) to free
    memory that the operating system takes back at exit anyway.
    Finalizers registered with :mod:`atexit` and :class:`weakref.finalize`
    still run.
    """
    gc.freeze()
    status = main()
    gc.freeze()
    sys.exit(status)
