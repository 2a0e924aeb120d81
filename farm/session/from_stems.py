"""A session from a folder of stems: one track per audio file, one bus per subfolder.

The quickest way in for a studio that prints stems. Every audio file under
the folder becomes a track named after the file (``Kick In.wav`` is the track
``Kick In``), playing from 0 s. A file in a subfolder plays into a bus named
after that subfolder (its path for a nested one: ``drums/toms``), which plays
into the bus of the folder above it, and the top level into the master.

Files and folders whose names start with ``.`` are skipped, as are files that
are not audio (each is named in the report) and folders reached through a
symbolic link (which could lead round in a circle). Two files with the same name in
different folders are told apart by their folder (``drums/kick``). The
session renders at the rate most of the stems have; the others are
resampled as they are read, and the report says which.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path

from dsp import io as audio_io
from dsp.errors import AudioFileError
from farm.errors import StemsFolderError

from .model import FORMAT, MASTER, MAX_BUSES, MAX_TRACKS
from .samplescan import rate_problem

AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".caf", ".w64", ".rf64"})
"""File name endings taken for audio; any other file is reported and skipped."""


@dataclasses.dataclass(frozen=True)
class FoundStem:
    """One audio file found: its path relative to the session's folder, the track it became, and its header facts."""

    path: str
    track: str
    bus: str
    sample_rate: int
    channels: int
    duration_s: float


@dataclasses.dataclass(frozen=True)
class StemsFolder:
    """A session made from a folder of stems, and what was found on the way.

    Attributes
    ----------
    document
        The session, as the mapping a session file holds.
    stems
        Every audio file taken, in track order.
    buses
        The buses made from subfolders, outermost first.
    sample_rate
        The render rate: the rate most stems have (the highest among equals).
    skipped
        Files left out, each ``(path, why)``.
    """

    document: dict
    stems: tuple[FoundStem, ...]
    buses: tuple[str, ...]
    sample_rate: int
    skipped: tuple[tuple[str, str], ...]

    def report(self) -> dict:
        """What was found, JSON-ready: the tracks, buses, rates and lengths, and what was skipped."""
        rates = collections.Counter(stem.sample_rate for stem in self.stems)
        return {
            "tracks": len(self.stems),
            "buses": list(self.buses),
            "sample_rate": self.sample_rate,
            "sample_rates": {str(rate): count for rate, count in sorted(rates.items())},
            "resampled": [stem.path for stem in self.stems if stem.sample_rate != self.sample_rate],
            "longest_s": max(stem.duration_s for stem in self.stems),
            "shortest_s": min(stem.duration_s for stem in self.stems),
            "stems": [dataclasses.asdict(stem) for stem in self.stems],
            "skipped": [{"path": path, "why": why} for path, why in self.skipped],
        }


def session_from_stems(stems_dir: Path, session_dir: Path, name: str | None = None) -> StemsFolder:
    """The session of the stems under ``stems_dir``, with paths relative to ``session_dir`` (the session file's folder).

    Raises
    ------
    farm.errors.StemsFolderError
        ``stems_dir`` is not a folder, or not inside ``session_dir``; it holds
        no audio file, more than the format allows, or a file whose rate is
        out of range.
    """
    stems_dir, session_dir = stems_dir.resolve(), session_dir.resolve()
    if not stems_dir.is_dir():
        raise StemsFolderError(f"{stems_dir}: not a folder of stems")
    if not stems_dir.is_relative_to(session_dir):
        raise StemsFolderError(f"{stems_dir}: the session file must be in this folder or one above it, so its stems lie inside its folder")
    folders: list[Path] = []
    files = list(_walk(stems_dir, folders))
    taken = {MASTER} | {folder.relative_to(stems_dir).as_posix() for folder in folders}
    stems: list[FoundStem] = []
    skipped: list[tuple[str, str]] = []
    for path in files:
        relative = path.relative_to(session_dir).as_posix()
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            skipped.append((relative, "not an audio file (by its name)"))
            continue
        try:
            facts = audio_io.info(path, relative)
        except AudioFileError as exc:
            skipped.append((relative, str(exc).removeprefix(f"{relative}: ")))
            continue
        problem = rate_problem(facts, relative)
        if problem:
            raise StemsFolderError(problem)
        folder = path.parent.relative_to(stems_dir).as_posix()
        track = _unique(path.stem, folder, taken)
        stems.append(FoundStem(relative, track, MASTER if folder == "." else folder, facts.sample_rate, facts.channels, facts.duration_s))
        if len(stems) > MAX_TRACKS:
            raise StemsFolderError(f"{stems_dir}: holds more than {MAX_TRACKS} audio files; a session may have at most {MAX_TRACKS} tracks")
    if not stems:
        raise StemsFolderError(f"{stems_dir}: holds no audio file ({', '.join(sorted(AUDIO_SUFFIXES))})")
    used = {stem.bus for stem in stems} - {MASTER}
    buses = [folder.relative_to(stems_dir).as_posix() for folder in folders]
    buses = [bus for bus in buses if any(user == bus or user.startswith(bus + "/") for user in used)]
    if MASTER in buses:
        raise StemsFolderError(f"{stems_dir / MASTER}: a folder of stems may not be called {MASTER!r}, the master's name; rename it")
    if len(buses) > MAX_BUSES:
        raise StemsFolderError(f"{stems_dir}: has {len(buses)} subfolders with stems; a session may have at most {MAX_BUSES} buses")
    rates = collections.Counter(stem.sample_rate for stem in stems)
    rate = max(rates, key=lambda value: (rates[value], value))
    document = {
        "format": FORMAT,
        "name": name or stems_dir.name,
        "sample_rate": rate,
        "tracks": [{"name": stem.track, "file": stem.path, "output": stem.bus} for stem in stems],
        "buses": [{"name": bus, "output": _parent(bus)} for bus in buses],
    }
    return StemsFolder(document, tuple(stems), tuple(buses), rate, tuple(skipped))


def _walk(folder: Path, folders: list[Path]):
    """The files under ``folder``, in natural order, each folder's files before its subfolders'; records the subfolders, each before those inside it."""
    entries = sorted((entry for entry in folder.iterdir() if not entry.name.startswith(".")), key=lambda entry: _natural(entry.name))
    for entry in entries:
        if entry.is_file():
            yield entry
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            folders.append(entry)
            yield from _walk(entry, folders)


def _natural(name: str) -> list:
    """A sort key that puts ``track2`` before ``track10``."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name)]


def _unique(stem: str, folder: str, taken: set[str]) -> str:
    """A track name from the file name, told apart by its folder, then by a number, if another strip has it."""
    candidates = [stem] if folder == "." else [stem, f"{folder}/{stem}"]
    name = next((candidate for candidate in candidates if candidate not in taken), None)
    number = 2
    while name is None:
        name = f"{candidates[-1]} {number}" if f"{candidates[-1]} {number}" not in taken else None
        number += 1
    taken.add(name)
    return name


def _parent(bus: str) -> str:
    """The bus a subfolder's bus plays into: the folder above's, or the master at the top."""
    return bus.rsplit("/", 1)[0] if "/" in bus else MASTER
