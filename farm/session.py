"""The session model (format ``mixfarm/1``) and its loader.

A session file is YAML or JSON; see the session format document. Reading it
refuses, before anything big is built, a file over
:data:`MAX_SESSION_FILE_BYTES`, lists and mappings nested more than
:data:`MAX_NESTING` deep and YAML aliases that expand past
:data:`MAX_ALIAS_VALUES` values. Loading then runs these passes and
reports every problem found, not just the first:

1. structure (pydantic): types, required and unknown fields, finite numbers,
   and bounded text and lists (the ``MAX_*`` constants below);
2. meaning: unique names, routing to known buses, an acyclic bus graph,
   automation targets, output paths;
3. files: paths inside the session folder (or an allowed root), stems and
   impulse responses that exist and read at a rate from 8 to 384 kHz, clips
   within their files;
4. the timeline (last clip end plus ``master.tail_s``) within the longest a
   session may last, and the master fades within the timeline;
5. effect parameters: each effect is built at the render sample rate, so its
   own rules (ranges, frequencies below Nyquist) apply;
6. on request, every stem read through (:mod:`farm.samplescan`): NaN or
   infinite samples, and a loudness target over nothing but silence.

Each problem reads ``field.path: what is wrong``, e.g.
``tracks[3].fx[1].ratio: must be >= 1, got 0.5``. A value is echoed cut to
:data:`MAX_ECHO_CHARS` characters (see :func:`echo`), local files are named
relative to the session's folder, never by their absolute path on the server
(files in storage keep their URI), and at most :data:`MAX_PROBLEMS` problems
are listed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import reprlib
from pathlib import Path
from typing import Annotated, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingEndEvent, ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from dsp import io as audio_io
from dsp.effect import Effect
from dsp.errors import DspError

from . import samplescan, stems, storage
from .effects import MAX_LOOKAHEAD_S, MAX_TOTAL_IMPULSE_RESPONSE_S, FxSpec, build_effect
from .errors import SessionError
from .paths import MAX_PATH_CHARS, locate
from .samplescan import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ

FORMAT = "mixfarm/1"
MASTER = "master"
REPORT_NAME = "report.json"
"""The render report's file name in the output folder; no output may take it."""

DEFAULT_MAX_DURATION_S = 4 * 3600
"""The longest a session may last by default (last clip end plus ``master.tail_s``), in seconds."""
MAX_SESSION_FILE_BYTES = 16 * 1024 * 1024
MAX_NESTING = 64
"""The deepest that lists and mappings (JSON arrays and objects) may nest in a session file."""
MAX_ALIAS_VALUES = 100_000
"""The most values that a YAML file's aliases (``*name``) may stand for, all together: enough to share
effect chains and clip lists, too few for an alias bomb."""
MAX_NAME_CHARS = 256
"""The longest session, track, bus or send target name, in characters."""
MAX_TRACKS = 512
MAX_BUSES = 128
MAX_CLIPS_PER_TRACK = 1024
MAX_FX_PER_STRIP = 32
MAX_SENDS_PER_STRIP = 32
MAX_AUTOMATION_LANES = MAX_SENDS_PER_STRIP + 2
"""One lane per automatable parameter: gain_db, pan and each send's level."""
MAX_AUTOMATION_POINTS = 100_000
"""The most [time_s, value] points in one automation lane."""
MAX_OUTPUTS = 16
MAX_PROBLEMS = 100
"""The most problems one error lists; the rest are counted."""
MAX_PROBLEM_CHARS = 2000
"""The longest one problem may be, in characters; longer ones are cut."""
MAX_ECHO_CHARS = 60
"""The most characters of a value that a problem echoes."""

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
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
StripName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
FilePath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS)]
AutomationKey = Annotated[str, Field(max_length=MAX_NAME_CHARS + len("sends..level_db"))]
Point = Annotated[list[float], Field(min_length=2, max_length=2)]
Points = Annotated[list[Point], Field(max_length=MAX_AUTOMATION_POINTS)]
SampleRate = Annotated[int, Field(ge=MIN_SAMPLE_RATE_HZ, le=MAX_SAMPLE_RATE_HZ)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Clip(_Model):
    """A region of a stem placed on the timeline."""

    file: FilePath
    start_s: float = Field(0.0, ge=0.0)
    offset_s: float = Field(0.0, ge=0.0)
    duration_s: float | None = Field(None, gt=0.0)
    gain_db: float = Field(0.0, ge=-96.0, le=48.0)
    fade_in_s: float = Field(0.0, ge=0.0)
    fade_out_s: float = Field(0.0, ge=0.0)
    fade_shape: FadeShape = "equal_power"


class Send(_Model):
    """A feed from a track or bus into a bus."""

    bus: Name
    level_db: float = Field(0.0, ge=-144.0, le=24.0)
    pre_fader: bool = False


class Strip(_Model):
    """What tracks and buses share: effects, fader, pan, sends, routing."""

    name: StripName
    gain_db: float = Field(0.0, ge=-144.0, le=24.0)
    pan: float = Field(0.0, ge=-1.0, le=1.0)
    width: float = Field(1.0, ge=0.0, le=2.0)
    polarity_invert: bool = False
    mute: bool = False
    solo: bool = False
    fx: list[FxSpec] = Field([], max_length=MAX_FX_PER_STRIP)
    sends: list[Send] = Field([], max_length=MAX_SENDS_PER_STRIP)
    output: Name = MASTER
    automation: dict[AutomationKey, Points] = Field({}, max_length=MAX_AUTOMATION_LANES)


class Track(Strip):
    """A track: a stem (``file``) or clips, through its strip."""

    file: FilePath | None = None
    clips: Annotated[list[Clip], Field(max_length=MAX_CLIPS_PER_TRACK)] | None = None

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

    lookahead_s: float = Field(0.005, gt=0.0, le=MAX_LOOKAHEAD_S)
    release_s: float = Field(0.05, gt=0.0, le=5.0)


class Master(_Model):
    """The master: its chain, the loudness stage, fades and tail."""

    fx: list[FxSpec] = Field([], max_length=MAX_FX_PER_STRIP)
    loudness: Loudness | None = None
    limiter: LimiterSettings = LimiterSettings()
    fade_in_s: float = Field(0.0, ge=0.0)
    fade_out_s: float = Field(0.0, ge=0.0)
    tail_s: float = Field(2.0, ge=0.0, le=600.0)


class Output(_Model):
    """One deliverable file."""

    path: FilePath
    format: Literal["wav", "aiff", "flac"] = "wav"
    bit_depth: Literal[16, 24, "32f"] = 24
    sample_rate: SampleRate | None = None
    dither: Literal["none", "tpdf", "shaped"] = "tpdf"


class Session(_Model):
    """A whole session, format ``mixfarm/1``."""

    format: Literal["mixfarm/1"]
    name: Name = "untitled"
    sample_rate: SampleRate | None = None
    tempo_bpm: float | None = Field(None, gt=0.0, le=1000.0)
    tracks: list[Track] = Field(min_length=1, max_length=MAX_TRACKS)
    buses: list[Bus] = Field([], max_length=MAX_BUSES)
    master: Master = Master()
    outputs: list[Output] = Field([Output(path="master.wav")], max_length=MAX_OUTPUTS)


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
    effects : dict
        Each strip's name (``"master"`` for the master) -> its insert chain,
        built at ``sample_rate`` while validating, for the compiler to use.
    roots : tuple
        The folders paths may point into.
    """

    session: Session
    source: Path | str
    sample_rate: int
    files: dict[str, audio_io.AudioInfo]
    effects: dict[str, tuple[Effect, ...]]
    roots: tuple[Path, ...] = ()

    @property
    def folder(self) -> Path | str:
        """The folder (a path, or a URI) that relative paths start from."""
        return storage.parent(self.source) if isinstance(self.source, str) else self.source.parent

    def locate(self, relative: str) -> str:
        """The path or URI of a file the session names."""
        return locate(self.folder, relative, list(self.roots))


def load(
    path: str | os.PathLike,
    allowed_roots: tuple[str | os.PathLike, ...] = (),
    *,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    check_samples: bool = False,
) -> LoadedSession:
    """Read, validate and resolve a session file.

    ``allowed_roots`` are extra folders that paths may point into besides the
    session's own folder. ``max_duration_s`` is the longest the session may
    last in seconds (last clip end plus ``master.tail_s``; None: no limit).
    ``check_samples`` reads every stem through (bounded memory, but the time
    it takes grows with the audio) for NaN or infinite samples and a loudness
    target over nothing but silence.

    Raises
    ------
    SessionError
        Listing every problem found.
    """
    source = str(path) if storage.is_remote(str(path)) else Path(path)
    data = read_document(source)
    return validate(data, source, allowed_roots, max_duration_s=max_duration_s, check_samples=check_samples)


class _Refused(Exception):
    """A session file refused while it was read; the message is the problem."""


def read_document(source: Path | str) -> object:
    """Parse a YAML or JSON session file (a path or a URI) into plain data.

    Raises SessionError for a file over :data:`MAX_SESSION_FILE_BYTES`, not
    valid, nested more than :data:`MAX_NESTING` deep, or with YAML aliases
    that stand for more than :data:`MAX_ALIAS_VALUES` values; none of these
    is expanded or built first.
    """
    text = _read_text(source)
    is_json = str(source).lower().endswith(".json")
    try:
        return _parse_json(text) if is_json else _parse_yaml(text)
    except _Refused as exc:
        raise SessionError(str(source), [str(exc)]) from None
    except (ValueError, yaml.YAMLError) as exc:
        raise SessionError(str(source), [_shorten(f"not valid {'JSON' if is_json else 'YAML'}: {exc}")]) from None


def _read_text(source: Path | str) -> str:
    """The session file as text; never reads more than one byte past :data:`MAX_SESSION_FILE_BYTES`."""
    try:
        with storage.open_binary(source) as handle:
            data = handle.read(MAX_SESSION_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SessionError(str(source), ["no such file"]) from None
    except OSError as exc:
        raise SessionError(str(source), [f"unreadable: {exc.strerror or type(exc).__name__}"]) from None
    if len(data) > MAX_SESSION_FILE_BYTES:
        raise SessionError(
            str(source), [f"the file is larger than {MAX_SESSION_FILE_BYTES // 2**20} MiB; a session file may hold at most {MAX_SESSION_FILE_BYTES} bytes"]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SessionError(str(source), [f"unreadable: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None


def _parse_json(text: str) -> object:
    """Plain data from JSON text; refused when nested more than :data:`MAX_NESTING` deep."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise _Refused(_too_deep("arrays and objects")) from None
    _check_nesting(data)
    return data


def _check_nesting(data: object) -> None:
    """Refuse parsed JSON nested more than :data:`MAX_NESTING` deep; walked with a stack of iterators, not recursion."""
    pending = [iter((data,))]
    while pending:
        for value in pending[-1]:
            if isinstance(value, (list, dict)):
                if len(pending) > MAX_NESTING:
                    raise _Refused(_too_deep("arrays and objects"))
                pending.append(iter(value.values() if isinstance(value, dict) else value))
                break
        else:
            pending.pop()


def _too_deep(what: str) -> str:
    return f"{what} nested more than {MAX_NESTING} levels deep; a session needs far fewer"


def _parse_yaml(text: str) -> object:
    """Plain data from YAML text, built by :class:`_SessionYaml`."""
    builder = _SessionYaml(text)
    try:
        return builder.document()
    finally:
        builder.dispose()


class _PythonYamlEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event parser, where libyaml is missing."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


_YamlEvents = yaml.cyaml.CParser if yaml.__with_libyaml__ else _PythonYamlEvents


class _SessionYaml(_YamlEvents, SafeConstructor, Resolver):
    """Plain data built straight from a YAML text's parse events, as ``yaml.safe_load`` would build it.

    No node tree is kept (PyYAML's takes hundreds of bytes per value). An
    alias shares the value its anchor named, as ``safe_load`` does, but the
    values all aliases stand for are counted, and the file is refused past
    :data:`MAX_ALIAS_VALUES` (expanding them is how a few hundred bytes become
    gigabytes), as it is when lists and mappings, aliases included, nest
    past :data:`MAX_NESTING`.
    """

    def __init__(self, text: str) -> None:
        _YamlEvents.__init__(self, text)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._anchored: dict[str, tuple[object, int, int]] = {}
        self._alias_values = 0

    def document(self) -> object:
        """The text's one document (None when it is empty)."""
        self.get_event()  # the stream's start
        data = None
        if not self.check_event(StreamEndEvent):
            self.get_event()  # the document's start
            data, _, _ = self._value(1)
            self.get_event()  # the document's end
        if not self.check_event(StreamEndEvent):
            raise _refusal(self.peek_event(), "a session file holds one YAML document, found another")
        return data

    def _value(self, depth: int) -> tuple[object, int, int]:
        """The value whose events come next, the values it holds (itself included) and how many levels
        of lists and mappings it nests; a list or mapping here is ``depth`` levels deep."""
        event = self.get_event()
        if isinstance(event, AliasEvent):
            return self._alias(event, depth)
        if isinstance(event, ScalarEvent):
            built = self._scalar(event), 1, 0
        else:
            built = self._collection(event, depth)
        if event.anchor is not None:
            self._anchored[event.anchor] = built
        return built

    def _alias(self, event: AliasEvent, depth: int) -> tuple[object, int, int]:
        if event.anchor not in self._anchored:
            raise _refusal(event, f"the alias *{event.anchor[:MAX_ECHO_CHARS]} names no anchor before it")
        value, values, levels = self._anchored[event.anchor]
        self._alias_values += values
        if self._alias_values > MAX_ALIAS_VALUES:
            raise _refusal(event, f"YAML aliases stand for more than {MAX_ALIAS_VALUES} values in all; write the session out in full")
        if depth + levels - 1 > MAX_NESTING:
            raise _refusal(event, _too_deep("lists and mappings"))
        return value, values, levels

    def _collection(self, event: yaml.events.Event, depth: int) -> tuple[object, int, int]:
        if depth > MAX_NESTING:
            raise _refusal(event, _too_deep("lists and mappings"))
        if event.tag not in (None, "!", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"):
            raise _refusal(event, f"YAML tags on lists and mappings ({echo(event.tag)}) are not allowed in session files")
        values, levels = 1, 1
        if isinstance(event, SequenceStartEvent):
            items = []
            while not self.check_event(SequenceEndEvent):
                item, item_values, item_levels = self._value(depth + 1)
                items.append(item)
                values, levels = values + item_values, max(levels, item_levels + 1)
            self.get_event()
            return items, values, levels
        mapping = {}
        while not self.check_event(MappingEndEvent):
            key_event = self.peek_event()
            key, _, _ = self._value(depth + 1)
            if isinstance(key, (list, dict)):
                raise _refusal(key_event, "mapping keys must be plain values, not lists or mappings")
            mapping[key], item_values, item_levels = self._value(depth + 1)
            values, levels = values + item_values + 1, max(levels, item_levels + 1)
        self.get_event()
        return mapping, values, levels

    def _scalar(self, event: ScalarEvent) -> object:
        tag = event.tag if event.tag not in (None, "!") else self.resolve(ScalarNode, event.value, event.implicit)
        if tag == "tag:yaml.org,2002:merge":
            raise _refusal(event, "YAML merge keys (<<) are not allowed in session files")
        construct = self.yaml_constructors.get(tag, self.yaml_constructors[None])
        try:
            return construct(self, ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))
        except ValueError as exc:
            raise _refusal(event, f"cannot read {echo(event.value)} as {tag.rsplit(':', 1)[-1]} ({exc})") from None


def _refusal(event: yaml.events.Event, message: str) -> _Refused:
    return _Refused(f"line {event.start_mark.line + 1}: {message}")


def validate(
    data: object,
    source: Path | str,
    allowed_roots: tuple[str | os.PathLike, ...] = (),
    *,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    check_samples: bool = False,
) -> LoadedSession:
    """Validate parsed session data as if read from ``source``; see :func:`load`."""
    if not isinstance(data, dict):
        raise SessionError(str(source), [f"the document must be a mapping of fields, got {type(data).__name__}"])
    try:
        session = Session.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _session_error(source, [format_pydantic_error(error) for error in exc.errors()[:MAX_PROBLEMS]], exc.error_count()) from None
    problems = check_meaning(session)
    folder = storage.parent(source) if isinstance(source, str) else source.parent
    roots = [] if isinstance(folder, str) else [folder.resolve()] + [Path(root).resolve() for root in allowed_roots]
    files, file_problems = check_files(session, folder, roots)
    problems += file_problems + check_duration(session, files, max_duration_s)
    sample_rate = session.sample_rate or (next(iter(files.values())).sample_rate if files else 48000)
    effects: dict[str, tuple[Effect, ...]] = {}
    if files or session.sample_rate:
        effects, effect_problems = check_effects(session, sample_rate, folder, roots)
        problems += effect_problems
    if check_samples:
        problems += check_sample_data(session, files, folder, roots)
    if problems:
        shown = problems[:MAX_PROBLEMS]
        raise _session_error(source, [_relative_to(problem, folder) for problem in shown] if isinstance(folder, Path) else shown, len(problems))
    return LoadedSession(session, source, int(sample_rate), files, effects, tuple(roots))


def _session_error(source: Path | str, problems: list[str], count: int) -> SessionError:
    """The error listing the first :data:`MAX_PROBLEMS` of ``count`` problems, each cut to :data:`MAX_PROBLEM_CHARS`, and how many more there are."""
    listed = [_shorten(problem) for problem in problems[:MAX_PROBLEMS]]
    if count > len(listed):
        listed.append(f"... and {count - len(listed)} more problem(s)")
    return SessionError(str(source), listed)


def _shorten(problem: str) -> str:
    return problem if len(problem) <= MAX_PROBLEM_CHARS else f"{problem[:MAX_PROBLEM_CHARS]}... (cut)"


def _relative_to(problem: str, folder: Path) -> str:
    """``problem`` with the session folder's resolved path cut from the files it names (the folder alone becomes ``.``)."""
    return re.sub(re.escape(str(folder.resolve())) + r"(/|(?![\w.-]))", lambda match: "" if match.group(1) else ".", problem)


_ECHO = reprlib.Repr()
_ECHO.maxlevel, _ECHO.maxtuple, _ECHO.maxlist, _ECHO.maxdict = 2, 4, 4, 4
_ECHO.maxstring = _ECHO.maxlong = _ECHO.maxother = MAX_ECHO_CHARS


def echo(value: object) -> str:
    """``repr(value)``, or for a long value about :data:`MAX_ECHO_CHARS` characters of it and how long the whole is.

    A large list or mapping is never turned into text whole.
    """
    if isinstance(value, str):
        return repr(value) if len(value) <= MAX_ECHO_CHARS else f"{value[:MAX_ECHO_CHARS]!r}... ({len(value)} characters)"
    text = _ECHO.repr(value)
    cut = len(text) > MAX_ECHO_CHARS
    text = f"{text[:MAX_ECHO_CHARS]}..." if cut else text
    if isinstance(value, (list, tuple, dict)) and (cut or len(value) > _ECHO.maxlist):
        text += f" ({len(value)} item(s))"
    return text


_MESSAGES = {
    "extra_forbidden": lambda error: "unknown field",
    "missing": lambda error: "required field missing",
    "greater_than_equal": lambda error: f"must be >= {error['ctx']['ge']}, got {echo(error['input'])}",
    "greater_than": lambda error: f"must be > {error['ctx']['gt']}, got {echo(error['input'])}",
    "less_than_equal": lambda error: f"must be <= {error['ctx']['le']}, got {echo(error['input'])}",
    "less_than": lambda error: f"must be < {error['ctx']['lt']}, got {echo(error['input'])}",
    "finite_number": lambda error: f"must be a finite number, got {echo(error['input'])}",
    "literal_error": lambda error: f"must be one of {error['ctx']['expected']}, got {echo(error['input'])}",
    "union_tag_invalid": lambda error: f"type: unknown effect {echo(error['ctx']['tag'])}; known effects: {error['ctx']['expected_tags']}",
    "union_tag_not_found": lambda error: "type: required field missing (the effect's name)",
    "too_short": lambda error: f"must have at least {error['ctx']['min_length']} item(s), got {error['ctx']['actual_length']}",
    "too_long": lambda error: f"must have at most {error['ctx']['max_length']} item(s), got {error['ctx']['actual_length']}",
    "string_too_short": lambda error: f"must be at least {error['ctx']['min_length']} character(s) long, got {echo(error['input'])}",
    "string_too_long": lambda error: f"must be at most {error['ctx']['max_length']} characters long, got {len(error['input'])}",
    "string_unicode": lambda error: f"must be valid Unicode text (no lone surrogates), got {echo(error['input'])}",
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
    """``tracks[3].fx[1].ratio`` from ``["tracks", 3, "fx", 1, "ratio"]``; a long or unprintable key is echoed."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = part if part.isprintable() and len(part) <= MAX_ECHO_CHARS else echo(part)
        text += name if not text or name.startswith("[") else f".{name}"
    return text


def _is_union_tag(location: tuple, index: int) -> bool:
    return index >= 2 and isinstance(location[index - 1], int) and location[index - 2] == "fx" and isinstance(location[index], str)


def _plain(message: str, value: object) -> str:
    text = message[0].lower() + message[1:] if message else "invalid"
    return f"{text.replace('input should be', 'must be')}, got {echo(value)}"


def routes(strip: Strip) -> set[str]:
    """Where a track or bus sends audio: its output and its sends' buses."""
    return {strip.output} | {send.bus for send in strip.sends}


def audibility(session: Session) -> dict[str, bool]:
    """Which strips sound: not muted and, when anything is soloed, on a soloed path."""
    strips = {strip.name: strip for strip in list(session.tracks) + list(session.buses)}
    soloed = {name for name, strip in strips.items() if strip.solo}
    if not soloed:
        return {name: not strip.mute for name, strip in strips.items()}
    below = {name: _downstream(name, strips) for name in strips}
    on_path = set(soloed)
    for name in soloed:
        on_path |= below[name] | {other for other, found in below.items() if name in found}
    return {name: (not strip.mute) and name in on_path for name, strip in strips.items()}


def _downstream(name: str, strips: dict[str, Strip]) -> set[str]:
    """The strips that ``name`` feeds, directly or through buses."""
    found: set[str] = set()
    pending = [name]
    while pending:
        for target in routes(strips[pending.pop()]):
            if target in strips and target not in found:
                found.add(target)
                pending.append(target)
    return found


def tracks_reaching_master(session: Session) -> set[str]:
    """Names of the tracks heard in the master: audible, through buses that are audible too."""
    audible = audibility(session)
    feeders: dict[str, list[str]] = {}
    for strip in list(session.tracks) + list(session.buses):
        for target in routes(strip) if audible[strip.name] else ():
            feeders.setdefault(target, []).append(strip.name)
    reaching: set[str] = set()
    pending = [MASTER]
    while pending:
        for name in feeders.get(pending.pop(), ()):
            if name not in reaching:
                reaching.add(name)
                pending.append(name)
    return reaching & {track.name for track in session.tracks}


def check_meaning(session: Session) -> list[str]:
    """Names, routing, cycles, automation targets, output paths, and a loudness target with a track to hear."""
    problems: list[str] = []
    strips = [(f"tracks[{i}]", track) for i, track in enumerate(session.tracks)] + [
        (f"buses[{i}]", bus) for i, bus in enumerate(session.buses)
    ]
    seen: dict[str, str] = {}
    for where, strip in strips:
        if strip.name == MASTER:
            problems.append(f"{where}.name: {MASTER!r} is reserved for the master bus")
        elif strip.name in seen:
            problems.append(f"{where}.name: {echo(strip.name)} is already the name of {seen[strip.name]}")
        else:
            seen[strip.name] = where
    buses = {bus.name for bus in session.buses}
    edges: dict[str, set[str]] = {strip.name: set() for _, strip in strips}
    for where, strip in strips:
        if strip.output != MASTER and strip.output not in buses:
            problems.append(f"{where}.output: no bus named {echo(strip.output)} (buses: {_listing(buses)}, or 'master')")
        elif strip.output != MASTER:
            edges[strip.name].add(strip.output)
        for index, send in enumerate(strip.sends):
            if send.bus not in buses:
                problems.append(f"{where}.sends[{index}].bus: no bus named {echo(send.bus)} (buses: {_listing(buses)})")
            else:
                edges[strip.name].add(send.bus)
        send_targets = {send.bus for send in strip.sends}
        for key, points in strip.automation.items():
            problems += _check_automation(f"{where}.automation.{format_path([key])}", key, points, send_targets)
    cycle = _find_cycle({name: targets for name, targets in edges.items() if name in buses})
    if cycle:
        problems.append(f"buses: routing forms a cycle: {' -> '.join(cycle)}")
    if session.master.loudness is not None and not tracks_reaching_master(session):
        problems.append("master.loudness: no track is heard in the master (mute, solo or routing silence them all); there is nothing to normalise")
    return problems + _check_outputs(session.outputs)


def _check_outputs(outputs: list[Output]) -> list[str]:
    """Each output names a file of its own inside the output folder, clear of the render's own files."""
    problems: list[str] = []
    written = [Path(output.path) for output in outputs]
    folders = {parent for path in written for parent in path.parents}
    seen: set[Path] = set()
    for index, (output, relative) in enumerate(zip(outputs, written)):
        where = f"outputs[{index}]"
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            problems.append(f"{where}.path: must stay inside the output folder, got {echo(output.path)}")
        elif any(part.startswith(".") for part in relative.parts):
            problems.append(f"{where}.path: file and folder names must not start with '.' (the render's working files do), got {echo(output.path)}")
        elif relative.as_posix().casefold() == REPORT_NAME:
            problems.append(f"{where}.path: {echo(output.path)} is reserved for the render report")
        elif relative in folders:
            problems.append(f"{where}.path: {echo(output.path)} is also the folder of another output")
        if relative in seen:
            problems.append(f"{where}.path: {echo(output.path)} is already written by another output")
        seen.add(relative)
        if output.format == "flac" and output.bit_depth == "32f":
            problems.append(f"{where}.bit_depth: flac supports 16 or 24, got '32f'")
    return problems


def _check_automation(where: str, key: str, points: list[list[float]], send_targets: set[str]) -> list[str]:
    parts = key.split(".")
    if key in ("gain_db", "pan"):
        low, high = (-144.0, 24.0) if key == "gain_db" else (-1.0, 1.0)
    elif len(parts) == 3 and parts[0] == "sends" and parts[2] == "level_db":
        if parts[1] not in send_targets:
            return [f"{where}: this strip has no send to {echo(parts[1])}"]
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


def _listing(names: set[str], most: int = 10) -> str:
    shown = ", ".join(echo(name) for name in sorted(names)[:most]) or "none"
    return shown if len(names) <= most else f"{shown}, ... ({len(names)} in all)"


def _clip_fields(session: Session):
    """Each clip with the path of its ``file`` field: ``tracks[t].file`` or ``tracks[t].clips[c].file``."""
    for t, track in enumerate(session.tracks):
        for c, clip in enumerate(track.clip_list):
            yield (f"tracks[{t}].file" if track.file is not None else f"tracks[{t}].clips[{c}].file"), clip


def check_files(session: Session, folder: Path | str, roots: list[Path]) -> tuple[dict[str, audio_io.AudioInfo], list[str]]:
    """Resolve and read the header of every stem; check its rate and each clip against its file."""
    problems: list[str] = []
    files: dict[str, audio_io.AudioInfo] = {}
    for where, clip in _clip_fields(session):
        if clip.file not in files:
            try:
                facts = stems.info(locate(folder, clip.file, roots))
            except (ValueError, OSError) as exc:
                problems.append(f"{where}: {exc}")
                continue
            rate_problem = samplescan.rate_problem(facts, clip.file)
            if rate_problem:
                problems.append(f"{where}: {rate_problem}")
                continue
            files[clip.file] = facts
        facts = files[clip.file]
        clip_where = where.rsplit(".", 1)[0]
        if clip.offset_s >= facts.duration_s:
            problems.append(f"{clip_where}.offset_s: {clip.offset_s:g} s is beyond the end of {echo(clip.file)} ({facts.duration_s:g} s)")
        elif clip.duration_s is not None and clip.offset_s + clip.duration_s > facts.duration_s + 0.5 / facts.sample_rate:
            problems.append(
                f"{clip_where}.duration_s: offset_s + duration_s = {clip.offset_s + clip.duration_s:g} s "
                f"runs past the end of {echo(clip.file)} ({facts.duration_s:g} s)"
            )
        elif clip.fade_in_s + clip.fade_out_s > _clip_length_s(clip, facts) + 1e-9:
            problems.append(
                f"{clip_where}: fade_in_s + fade_out_s ({clip.fade_in_s + clip.fade_out_s:g} s) "
                f"is longer than the clip ({_clip_length_s(clip, facts):g} s)"
            )
        if facts.channels > 2:
            problems.append(f"{where}: {echo(clip.file)} has {facts.channels} channels; stems must be mono or stereo")
    return files, problems


def _clip_length_s(clip: Clip, facts: audio_io.AudioInfo) -> float:
    return clip.duration_s if clip.duration_s is not None else facts.duration_s - clip.offset_s


def check_duration(session: Session, files: dict[str, audio_io.AudioInfo], max_duration_s: float | None) -> list[str]:
    """The timeline (last clip end plus ``master.tail_s``, as the plan lays it out) against ``max_duration_s``
    seconds, and the master fades against the timeline; computed from the clips alone.

    A clip whose file could not be read counts with its ``duration_s``, or as
    ending where it starts.
    """
    ends = []
    for where, clip in _clip_fields(session):
        facts = files.get(clip.file)
        length_s = _clip_length_s(clip, facts) if facts else (clip.duration_s or 0.0)
        field = where.rsplit(".", 1)[0] + ".start_s" if clip.start_s > 0 else where
        ends.append((clip.start_s + length_s, field))
    end_s, where = max(ends, key=lambda end: end[0], default=(0.0, "tracks"))
    length_s = end_s + session.master.tail_s
    if max_duration_s is not None and length_s > max_duration_s:
        return [f"{where}: the clip ends at {end_s:g} s; a session may last at most {_hours(max_duration_s)}, master.tail_s included"]
    problems = []
    for field in ("fade_in_s", "fade_out_s"):
        fade_s = getattr(session.master, field)
        if fade_s > length_s:
            problems.append(f"master.{field}: {fade_s:g} s is longer than the session ({length_s:g} s, master.tail_s included)")
    return problems


def _hours(seconds: float) -> str:
    whole_hours = seconds >= 3600 and seconds % 3600 == 0
    return f"{seconds:g} s ({seconds / 3600:g} h)" if whole_hours else f"{seconds:g} s"


def check_effects(
    session: Session, sample_rate: int, folder: Path | str, roots: list[Path]
) -> tuple[dict[str, tuple[Effect, ...]], list[str]]:
    """Build every effect at the render rate so its own parameter rules apply; returns each strip's chain
    (by strip name, ``"master"`` for the master) and the problems found.

    Convolutions past :data:`~farm.effects.MAX_TOTAL_IMPULSE_RESPONSE_S` of
    impulse responses in all are not read.
    """
    problems: list[str] = []
    chains = [(f"tracks[{i}].fx", track.name, track.fx) for i, track in enumerate(session.tracks)]
    chains += [(f"buses[{i}].fx", bus.name, bus.fx) for i, bus in enumerate(session.buses)]
    chains.append(("master.fx", MASTER, session.master.fx))
    built: dict[str, tuple[Effect, ...]] = {}
    impulse_responses_s = 0.0
    for where, name, chain in chains:
        effects: list[Effect] = []
        for index, spec in enumerate(chain):
            if spec.type == "convolution" and impulse_responses_s > MAX_TOTAL_IMPULSE_RESPONSE_S:
                continue
            try:
                effect = build_effect(spec, sample_rate, tempo_bpm=session.tempo_bpm, folder=folder, roots=roots)
            except (DspError, ValueError) as exc:
                problems.append(f"{where}[{index}].{exc}")
                continue
            effects.append(effect)
            if spec.type == "convolution":
                impulse_responses_s += effect.kernel.shape[0] / sample_rate
                if impulse_responses_s > MAX_TOTAL_IMPULSE_RESPONSE_S:
                    problems.append(
                        f"{where}[{index}].ir_file: with this one the session's impulse responses last {impulse_responses_s:g} s; "
                        f"at most {MAX_TOTAL_IMPULSE_RESPONSE_S:g} s in all"
                    )
        built[name] = tuple(effects)
    return built, problems


def check_sample_data(session: Session, files: dict[str, audio_io.AudioInfo], folder: Path | str, roots: list[Path]) -> list[str]:
    """Read every stem through (see :mod:`farm.samplescan`): NaN or infinite samples, and a loudness target
    when every track heard in the master plays only digital silence."""
    problems: list[str] = []
    scans: dict[str, samplescan.SampleScan | None] = {}
    for where, clip in _clip_fields(session):
        if clip.file in scans or clip.file not in files:
            continue
        scans[clip.file] = None
        try:
            found = scans[clip.file] = samplescan.scan(locate(folder, clip.file, roots))
        except OSError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if found.bad_frame is not None:
            problems.append(
                f"{where}: {echo(clip.file)} holds a NaN or infinite sample at frame {found.bad_frame} "
                f"({found.bad_frame / found.sample_rate:.3f} s into the file)"
            )
    if session.master.loudness is not None and _plays_only_silence(session, scans):
        problems.append("master.loudness: every track heard in the master plays only digital silence; there is nothing to normalise")
    return problems


def _plays_only_silence(session: Session, scans: dict[str, samplescan.SampleScan | None]) -> bool:
    """True when some track is heard in the master and every clip of every such track is certainly digital silence."""
    heard = tracks_reaching_master(session)
    for track in session.tracks:
        for clip in track.clip_list if track.name in heard else ():
            found = scans.get(clip.file)
            if found is None or not found.is_silent(*_clip_frames(clip, found)):
                return False
    return bool(heard)


def _clip_frames(clip: Clip, found: samplescan.SampleScan) -> tuple[int, int]:
    """The frames ``[start, stop)`` of its file that a clip plays."""
    start = int(round(clip.offset_s * found.sample_rate))
    if clip.duration_s is None:
        return start, found.frames
    return start, min(start + int(round(clip.duration_s * found.sample_rate)), found.frames)
