"""Options that several commands share."""

from __future__ import annotations

import argparse

from farm.session import DEFAULT_MAX_DURATION_S


def non_negative_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    seconds = float(text)
    if not (seconds >= 0 and seconds != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return seconds


def add_max_duration(parser: argparse.ArgumentParser) -> None:
    """``--max-duration-s``: the longest session accepted."""
    parser.add_argument(
        "--max-duration-s",
        type=non_negative_seconds,
        default=DEFAULT_MAX_DURATION_S,
        help=f"the longest session accepted, in seconds, master tail included (default {DEFAULT_MAX_DURATION_S:g}; 0: no limit)",
    )


def max_duration(args: argparse.Namespace) -> float | None:
    """``--max-duration-s`` as :func:`farm.session.load` takes it: 0 means no limit."""
    return args.max_duration_s or None
