"""The session model (format ``mixfarm/1``) and its loader.

A session file is YAML or JSON; see the session format document. Loading runs
four passes and reports every problem found, not just the first:

1. structure (pydantic): types, required and unknown fields;
2. meaning: unique names, routing to known buses, an acyclic bus graph,
   automation targets, output paths;
3. files: paths inside the session folder (or an allowed root), stems and
   impulse responses that exist and read, clips within their files;
4. effect parameters: each effect is built at the render sample rate, so its
   own rules (ranges, frequencies below Nyquist) apply.

Each problem reads ``field.path: what is wrong``, e.g.
``tracks[3].fx[1].ratio: must be >= 1, got 0.5``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from dsp import io as audio_io
from dsp.errors import AudioFileError, DspError

from .effects import FxSpec, build_effect
from . import stems, storage
from .errors import SessionError
from .paths import locate

FORMAT = "mixfarm/1"
MASTER = "master"

LOUDNESS_PRESETS: dict[str, tuple[float, float]] = {
    "spotify": (-14.0, -1.0),
    "apple_music": (-16.0, -1.0),
    "youtube": (-14.0, -1.0),
    "amazon_music": (-14.0, -2.0),
    "deezer": (-15.0, -1.0),
    "ebu_r128": (-23.0, -1.0),
    "atsc_a85": (-24.0, -2.0),
    "aes_streaming": (-18.0, -1.0),
    "cd": (-9.0, -0.3),
}
"""Platform loudness targets: preset -> (target_lufs, true_peak_dbtp)."""

FadeShape = Literal["linear", "equal_power", "exponential"]
Points = list[Annotated[list[float], Field(min_length=2, max_length=2)]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clip(_Model):
    """A region of a stem placed on the timeline."""

    file: str
    start_s: float = Field(0.0, ge=0.0)
    offset_s: float = Field(0.0, ge=0.0)
    duration_s: float | None = Field(None, gt=0.0)
    gain_db: float = Field(0.0, ge=-96.0, le=48.0)
    fade_in_s: float = Field(0.0, ge=0.0)
    fade_out_s: float = Field(0.0, ge=0.0)
    fade_shape: FadeShape = "equal_power"


class Send(_Model):
    """A feed from a track or bus into a bus."""

    bus: str
    level_db: float = Field(0.0, ge=-144.0, le=24.0)
    pre_fader: bool = False


class Strip(_Model):
    """What tracks and buses share: effects, fader, pan, sends, routing."""

    name: str = Field(min_length=1)
    gain_db: float = Field(0.0, ge=-144.0, le=24.0)
    pan: float = Field(0.0, ge=-1.0, le=1.0)
    width: float = Field(1.0, ge=0.0, le=2.0)
    polarity_invert: bool = False
    mute: bool = False
    solo: bool = False
    fx: list[FxSpec] = []
    sends: list[Send] = []
    output: str = MASTER
    automation: dict[str, Points] = {}


class Track(Strip):
    """A track: a stem (``file``) or clips, through its strip."""

    file: str | None = None
    clips: list[Clip] | None = None

    @pydantic.model_validator(mode="after")
    def _one_source(self) -> "Track":
        if (self.file is None) == (self.clips is None):
            raise ValueError("give exactly one of file or clips")
        return self

    @property
    def clip_list(self) -> list[Clip]:
        """The clips, with ``file`` shorthand expanded to one clip at 0 s."""
        return list(self.clips) if self.clips is not None else [Clip(file=self.file)]


class Bus(Strip):
    """A bus: the sum of what routes or sends into it, through its strip."""


class Loudness(_Model):
    """The loudness stage's target: a preset and/or explicit values."""

    preset: Literal[tuple(LOUDNESS_PRESETS)] | None = None  # type: ignore[valid-type]
    target_lufs: float | None = Field(None, ge=-70.0, le=0.0)
    true_peak_dbtp: float | None = Field(None, ge=-20.0, le=0.0)

    @pydantic.model_validator(mode="after")
    def _resolvable(self) -> "Loudness":
        if self.preset is None and (self.target_lufs is None or self.true_peak_dbtp is None):
            raise ValueError("give a preset, or both target_lufs and true_peak_dbtp")
        return self

    @property
    def target(self) -> tuple[float, float]:
        """(target_lufs, true_peak_dbtp), explicit fields overriding the preset."""
        preset_lufs, preset_dbtp = LOUDNESS_PRESETS.get(self.preset, (None, None))
        lufs = self.target_lufs if self.target_lufs is not None else preset_lufs
        dbtp = self.true_peak_dbtp if self.true_peak_dbtp is not None else preset_dbtp
        return float(lufs), float(dbtp)


class LimiterSettings(_Model):
    """The loudness stage's final true-peak limiter."""

    lookahead_s: float = Field(0.005, gt=0.0, le=0.1)
    release_s: float = Field(0.05, gt=0.0, le=5.0)


class Master(_Model):
    """The master: its chain, the loudness stage, fades and tail."""

    fx: list[FxSpec] = []
    loudness: Loudness | None = None
    limiter: LimiterSettings = LimiterSettings()
    fade_in_s: float = Field(0.0, ge=0.0)
    fade_out_s: float = Field(0.0, ge=0.0)
    tail_s: float = Field(2.0, ge=0.0, le=600.0)


class Output(_Model):
    """One deliverable file."""

    path: str = Field(min_length=1)
    format: Literal["wav", "aiff", "flac"] = "wav"
    bit_depth: Literal[16, 24, "32f"] = 24
    sample_rate: int | None = Field(None, ge=8000, le=384000)
    dither: Literal["none", "tpdf", "shaped"] = "tpdf"


class Session(_Model):
    """A whole session, format ``mixfarm/1``."""

    format: Literal["mixfarm/1"]
    name: str = "untitled"
    sample_rate: int | None = Field(None, ge=8000, le=384000)
    tempo_bpm: float | None = Field(None, gt=0.0, le=1000.0)
    tracks: list[Track] = Field(min_length=1)
    buses: list[Bus] = []
    master: Master = Master()
    outputs: list[Output] = [Output(path="master.wav")]


@dataclasses.dataclass(frozen=True)
class LoadedSession:
    """A validated session with everything the renderer needs resolved.

    Attributes
    ----------
    session : Session
        The model as written.
    source : pathlib.Path
        The session file.
    sample_rate : int
        The render rate in Hz: ``session.sample_rate`` or the first stem's.
    files : dict
        Each audio file the session names (as written) -> its resolved path
        and header facts (:class:`dsp.io.AudioInfo`).
    """

    session: Session
    source: Path | str
    sample_rate: int
    files: dict[str, audio_io.AudioInfo]
    roots: tuple[Path, ...] = ()

    @property
    def folder(self) -> Path | str:
        """The folder (a path, or a URI) that relative paths start from."""
        return storage.parent(self.source) if isinstance(self.source, str) else self.source.parent

    def locate(self, relative: str) -> str:
        """The path or URI of a file the session names."""
        return locate(self.folder, relative, list(self.roots))


def load(path: str | os.PathLike, allowed_roots: tuple[str | os.PathLike, ...] = ()) -> LoadedSession:
    """Read, validate and resolve a session file.

    ``allowed_roots`` are extra folders that paths may point into besides the
    session's own folder.

    Raises
    ------
    SessionError
        Listing every problem found.
    """
    source = str(path) if storage.is_remote(str(path)) else Path(path)
    data = read_document(source)
    return validate(data, source, allowed_roots)


def read_document(source: Path | str) -> object:
    """Parse a YAML or JSON session file (a path or a URI) into plain data."""
    try:
        text = storage.read_text(source)
    except FileNotFoundError:
        raise SessionError(str(source), ["no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(str(source), [f"unreadable: {exc}"]) from None
    is_json = str(source).lower().endswith(".json")
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SessionError(str(source), [f"not valid {'JSON' if is_json else 'YAML'}: {exc}"]) from None


def validate(data: object, source: Path | str, allowed_roots: tuple[str | os.PathLike, ...] = ()) -> LoadedSession:
    """Validate parsed session data as if read from ``source``; see :func:`load`."""
    if not isinstance(data, dict):
        raise SessionError(str(source), [f"the document must be a mapping of fields, got {type(data).__name__}"])
    try:
        session = Session.model_validate(data)
    except pydantic.ValidationError as exc:
        raise SessionError(str(source), [format_pydantic_error(error) for error in exc.errors()]) from None
    problems = check_meaning(session)
    folder = storage.parent(source) if isinstance(source, str) else source.parent
    roots = [] if isinstance(folder, str) else [folder.resolve()] + [Path(root).resolve() for root in allowed_roots]
    files, file_problems = check_files(session, folder, roots)
    problems += file_problems
    sample_rate = session.sample_rate or (next(iter(files.values())).sample_rate if files else 48000)
    if files or session.sample_rate:
        problems += check_effects(session, sample_rate, folder, roots)
    if problems:
        raise SessionError(str(source), problems)
    return LoadedSession(session, source, int(sample_rate), files, tuple(roots))



_MESSAGES = {
    "extra_forbidden": lambda error: "unknown field",
    "missing": lambda error: "required field missing",
    "greater_than_equal": lambda error: f"must be >= {error['ctx']['ge']}, got {error['input']!r}",
    "greater_than": lambda error: f"must be > {error['ctx']['gt']}, got {error['input']!r}",
    "less_than_equal": lambda error: f"must be <= {error['ctx']['le']}, got {error['input']!r}",
    "less_than": lambda error: f"must be < {error['ctx']['lt']}, got {error['input']!r}",
    "literal_error": lambda error: f"must be one of {error['ctx']['expected']}, got {error['input']!r}",
    "union_tag_invalid": lambda error: f"type: unknown effect {error['ctx']['tag']!r}; known effects: {error['ctx']['expected_tags']}",
    "union_tag_not_found": lambda error: "type: required field missing (the effect's name)",
    "too_short": lambda error: f"must have at least {error['ctx']['min_length']} item(s), got {error['ctx']['actual_length']}",
    "too_long": lambda error: f"must have at most {error['ctx']['max_length']} item(s), got {error['ctx']['actual_length']}",
}


def format_pydantic_error(error: dict) -> str:
    """``field.path: message`` for one pydantic error, in the session's own terms."""
    location = [part for index, part in enumerate(error["loc"]) if not _is_union_tag(error["loc"], index)]
    path = format_path(location)
    describe = _MESSAGES.get(error["type"])
    message = describe(error) if describe else _plain(error["msg"], error.get("input"))
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    if message.startswith("type: ") and path:
        return f"{path}.{message}"
    return f"{path}: {message}" if path else message


def format_path(location: list[str | int]) -> str:
    """``tracks[3].fx[1].ratio`` from ``["tracks", 3, "fx", 1, "ratio"]``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_union_tag(location: tuple, index: int) -> bool:
    return index >= 2 and isinstance(location[index - 1], int) and location[index - 2] == "fx" and isinstance(location[index], str)


def _plain(message: str, value: object) -> str:
    text = message[0].lower() + message[1:] if message else "invalid"
    return f"{text.replace('input should be', 'must be')}, got {value!r}"


def check_meaning(session: Session) -> list[str]:
    """Names, routing, cycles, automation targets and output paths."""
    problems: list[str] = []
    strips = [(f"tracks[{i}]", track) for i, track in enumerate(session.tracks)] + [
        (f"buses[{i}]", bus) for i, bus in enumerate(session.buses)
    ]
    seen: dict[str, str] = {}
    for where, strip in strips:
        if strip.name == MASTER:
            problems.append(f"{where}.name: {MASTER!r} is reserved for the master bus")
        elif strip.name in seen:
            problems.append(f"{where}.name: {strip.name!r} is already the name of {seen[strip.name]}")
        else:
            seen[strip.name] = where
    buses = {bus.name for bus in session.buses}
    edges: dict[str, set[str]] = {strip.name: set() for _, strip in strips}
    for where, strip in strips:
        if strip.output != MASTER and strip.output not in buses:
            problems.append(f"{where}.output: no bus named {strip.output!r} (buses: {_listing(buses)}, or 'master')")
        elif strip.output != MASTER:
            edges[strip.name].add(strip.output)
        for index, send in enumerate(strip.sends):
            if send.bus not in buses:
                problems.append(f"{where}.sends[{index}].bus: no bus named {send.bus!r} (buses: {_listing(buses)})")
            else:
                edges[strip.name].add(send.bus)
        send_targets = {send.bus for send in strip.sends}
        for key, points in strip.automation.items():
            problems += _check_automation(f"{where}.automation.{key}", key, points, send_targets)
    cycle = _find_cycle({name: targets for name, targets in edges.items() if name in buses})
    if cycle:
        problems.append(f"buses: routing forms a cycle: {' -> '.join(cycle)}")
    outputs_seen: set[str] = set()
    for index, output in enumerate(session.outputs):
        where = f"outputs[{index}]"
        relative = Path(output.path)
        if relative.is_absolute() or ".." in relative.parts:
            problems.append(f"{where}.path: must stay inside the output folder, got {output.path!r}")
        if output.path in outputs_seen:
            problems.append(f"{where}.path: {output.path!r} is already written by another output")
        outputs_seen.add(output.path)
        if output.format == "flac" and output.bit_depth == "32f":
            problems.append(f"{where}.bit_depth: flac supports 16 or 24, got '32f'")
    return problems


def _check_automation(where: str, key: str, points: list[list[float]], send_targets: set[str]) -> list[str]:
    parts = key.split(".")
    if key in ("gain_db", "pan"):
        low, high = (-144.0, 24.0) if key == "gain_db" else (-1.0, 1.0)
    elif len(parts) == 3 and parts[0] == "sends" and parts[2] == "level_db":
        if parts[1] not in send_targets:
            return [f"{where}: this strip has no send to {parts[1]!r}"]
        low, high = -144.0, 24.0
    else:
        return [f"{where}: unknown automation target; allowed: gain_db, pan, sends.<bus>.level_db"]
    problems = []
    if not points:
        problems.append(f"{where}: must hold at least one [time_s, value] point")
    for index, (time_s, value) in enumerate(points):
        if time_s < 0:
            problems.append(f"{where}[{index}]: time_s must be >= 0, got {time_s:g}")
        if index and time_s < points[index - 1][0]:
            problems.append(f"{where}[{index}]: times must not decrease, got {time_s:g} after {points[index - 1][0]:g}")
        if not low <= value <= high:
            problems.append(f"{where}[{index}]: value must be within [{low:g}, {high:g}], got {value:g}")
    return problems


def _find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle in the bus graph as a list of names ending where it starts, or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _listing(names: set[str]) -> str:
    return ", ".join(repr(name) for name in sorted(names)) or "none"


def check_files(session: Session, folder: Path | str, roots: list[Path]) -> tuple[dict[str, audio_io.AudioInfo], list[str]]:
    """Resolve and read the header of every stem; check each clip against its file."""
    problems: list[str] = []
    files: dict[str, audio_io.AudioInfo] = {}
    for t, track in enumerate(session.tracks):
        for c, clip in enumerate(track.clip_list):
            where = f"tracks[{t}].file" if track.file is not None else f"tracks[{t}].clips[{c}].file"
            if clip.file not in files:
                try:
                    files[clip.file] = stems.info(locate(folder, clip.file, roots))
                except (ValueError, AudioFileError) as exc:
                    problems.append(f"{where}: {exc}")
                    continue
            facts = files[clip.file]
            clip_where = where.rsplit(".", 1)[0]
            if clip.offset_s >= facts.duration_s:
                problems.append(f"{clip_where}.offset_s: {clip.offset_s:g} s is beyond the end of {clip.file!r} ({facts.duration_s:g} s)")
            elif clip.duration_s is not None and clip.offset_s + clip.duration_s > facts.duration_s + 0.5 / facts.sample_rate:
                problems.append(
                    f"{clip_where}.duration_s: offset_s + duration_s = {clip.offset_s + clip.duration_s:g} s "
                    f"runs past the end of {clip.file!r} ({facts.duration_s:g} s)"
                )
            elif clip.fade_in_s + clip.fade_out_s > _clip_length_s(clip, facts) + 1e-9:
                problems.append(
                    f"{clip_where}: fade_in_s + fade_out_s ({clip.fade_in_s + clip.fade_out_s:g} s) "
                    f"is longer than the clip ({_clip_length_s(clip, facts):g} s)"
                )
            if facts.channels > 2:
                problems.append(f"{where}: {clip.file!r} has {facts.channels} channels; stems must be mono or stereo")
    return files, problems


def _clip_length_s(clip: Clip, facts: audio_io.AudioInfo) -> float:
    return clip.duration_s if clip.duration_s is not None else facts.duration_s - clip.offset_s


def check_effects(session: Session, sample_rate: int, folder: Path | str, roots: list[Path]) -> list[str]:
    """Build every effect at the render rate so its own parameter rules apply."""
    problems: list[str] = []
    chains = [(f"tracks[{i}].fx", track.fx) for i, track in enumerate(session.tracks)]
    chains += [(f"buses[{i}].fx", bus.fx) for i, bus in enumerate(session.buses)]
    chains.append(("master.fx", session.master.fx))
    for where, chain in chains:
        for index, spec in enumerate(chain):
            try:
                build_effect(spec, sample_rate, tempo_bpm=session.tempo_bpm, folder=folder, roots=roots)
            except (DspError, ValueError) as exc:
                problems.append(f"{where}[{index}].{exc}")
    return problems
