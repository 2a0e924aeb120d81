"""The session model, format ``mixfarm/1``: pydantic models, their limits, and the routing they describe."""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from dsp.codecs import LOSSY_FORMATS

from .effects import MAX_LOOKAHEAD_S, FxSpec
from .metadata import Metadata
from .names import MAX_NAME_CHARS, Name, StripName
from .paths import MAX_PATH_CHARS
from .samplescan import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ

FORMAT = "mixfarm/1"
MASTER = "master"
REPORT_NAME = "report.json"
"""The render report's file name in the output folder; no output may take it."""
DEFAULT_SAMPLE_RATE_HZ = 48000
"""The render rate of a session that names no rate and no stem."""

DEFAULT_MAX_DURATION_S = 4 * 3600
"""The longest a session may last by default (last clip end plus ``master.tail_s``), in seconds."""
MAX_SESSION_FILE_BYTES = 16 * 1024 * 1024
MAX_NESTING = 64
"""The deepest that lists and mappings (JSON arrays and objects) may nest in a session file."""
MAX_ALIAS_VALUES = 100_000
"""The most values that a YAML file's aliases (``*name``) may stand for, all together: enough to share
effect chains and clip lists, too few for an alias bomb."""
MAX_TRACKS = 512
MAX_BUSES = 128
MAX_CLIPS_PER_TRACK = 1024
MAX_FX_PER_STRIP = 32
MAX_SENDS_PER_STRIP = 32
MAX_AUTOMATION_LANES = 128
"""The most automation lanes of one strip: gain_db, pan, width, mute, each send's level and effect parameters."""
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
FilePath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS)]
AutomationKey = Annotated[str, Field(max_length=MAX_NAME_CHARS + len("sends..level_db"))]
Point = Annotated[list[float | Annotated[str, Field(max_length=MAX_ECHO_CHARS)]], Field(min_length=2, max_length=3)]
"""``[time_s, value]`` or ``[time_s, value, hold]``; which item may be text is checked with the automation's meaning."""
Points = Annotated[list[Point], Field(max_length=MAX_AUTOMATION_POINTS)]
SampleRate = Annotated[int, Field(ge=MIN_SAMPLE_RATE_HZ, le=MAX_SAMPLE_RATE_HZ)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Clip(_Model):
    """A region of a stem placed on the timeline."""

    file: FilePath = Field(description="The audio file the clip plays, relative to the session file's folder.")
    start_s: float = Field(0.0, ge=0.0, description="Where the clip starts on the timeline, in seconds.")
    offset_s: float = Field(0.0, ge=0.0, description="Where in its file the clip starts playing, in seconds; before the file's end.")
    duration_s: float | None = Field(
        None, gt=0.0, description="How long the clip plays, in seconds; null plays to the end of the file. offset_s + duration_s may not pass the file's end."
    )
    gain_db: float = Field(0.0, ge=-96.0, le=48.0, description="Clip gain in dB, before the track's polarity and effects.")
    fade_in_s: float = Field(0.0, ge=0.0, description="Fade-in at the clip's start, in seconds.")
    fade_out_s: float = Field(0.0, ge=0.0, description="Fade-out at the clip's end, in seconds; fade_in_s + fade_out_s may not pass the clip's length.")
    fade_shape: FadeShape = Field("equal_power", description="The curve of both clip fades.")


class Send(_Model):
    """A feed from a track or bus into a bus."""

    bus: Name = Field(description="The bus fed: the name of one of the session's buses.")
    level_db: float = Field(0.0, ge=-144.0, le=24.0, description="Send level in dB; automatable as sends.<bus>.level_db.")
    pre_fader: bool = Field(False, description="true: tap after the effects, before width, fader and pan; false: tap after the pan.")


class Strip(_Model):
    """What tracks and buses share: effects, fader, pan, sends, routing."""

    name: StripName = Field(description="Unique across tracks and buses; master is reserved.")
    gain_db: float = Field(0.0, ge=-144.0, le=24.0, description="Fader level in dB, after the effects and width; automatable.")
    pan: float = Field(0.0, ge=-1.0, le=1.0, description="-1 hard left, 0 centre, +1 hard right; after the fader; automatable.")
    width: float = Field(1.0, ge=0.0, le=2.0, description="Mid/side stereo width after the effects: 0 mono, 1 unchanged, 2 widest; automatable.")
    polarity_invert: bool = Field(False, description="Invert the polarity, before the effects.")
    mute: bool = Field(False, description="Silence the strip: its output and its sends. Automation (0 sounding, 1 muted) can switch it while the song plays.")
    solo: bool = Field(False, description="When any strip is soloed, only soloed paths sound (see Routing).")
    fx: list[FxSpec] = Field([], max_length=MAX_FX_PER_STRIP, description="Insert effects, in signal order.")
    sends: list[Send] = Field([], max_length=MAX_SENDS_PER_STRIP, description="Feeds into buses, besides the output.")
    output: Name = Field(MASTER, description="Where the strip's signal goes: a bus's name or master.")
    automation: dict[AutomationKey, Points] = Field(
        {}, max_length=MAX_AUTOMATION_LANES, description="Breakpoint envelopes, [[time_s, value], ...] ([time_s, value, hold] for a step), by parameter: gain_db, pan, width, mute, sends.<bus>.level_db."
    )


class Track(Strip):
    """A track: a stem (``file``) or clips, through its strip."""

    file: FilePath | None = Field(None, description="A stem played from 0 s to its end: shorthand for one clip. Give file or clips, not both.")
    clips: Annotated[list[Clip], Field(max_length=MAX_CLIPS_PER_TRACK)] | None = Field(
        None, description="Regions of stems placed on the timeline, summed. Give file or clips, not both."
    )

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

    preset: Literal[tuple(LOUDNESS_PRESETS)] | None = Field(None, description="A platform's target and ceiling (see the presets).")  # type: ignore[valid-type]
    target_lufs: float | None = Field(None, ge=-70.0, le=0.0, description="Integrated loudness target in LUFS; overrides the preset's.")
    true_peak_dbtp: float | None = Field(None, ge=-20.0, le=0.0, description="True-peak ceiling in dBTP; overrides the preset's.")

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

    lookahead_s: float = Field(0.005, gt=0.0, le=MAX_LOOKAHEAD_S, description="Look-ahead in seconds: the length of the gain's attack ramp.")
    release_s: float = Field(0.05, gt=0.0, le=5.0, description="Release time constant in seconds.")


class Match(_Model):
    """Reference matching: an EQ that takes the master's tonal balance towards a finished master's."""

    reference: FilePath = Field(description="A finished master to sound like: an audio file relative to the session file's folder, at any sample rate.")
    amount: float = Field(1.0, ge=0.0, le=1.0, description="How much of the correction to apply: 0 none (the render is as without matching), 1 all of it.")
    max_gain_db: float = Field(12.0, gt=0.0, le=24.0, description="The most the correction boosts or cuts at any frequency, in dB.")


class Master(_Model):
    """The master: its chain, the loudness stage, fades and tail."""

    fx: list[FxSpec] = Field([], max_length=MAX_FX_PER_STRIP, description="The master's insert effects, in order, before the loudness stage.")
    match: Match | None = Field(None, description="Reference matching, after fx and before the loudness stage; null: none.")
    loudness: Loudness | None = Field(None, description="The loudness target; null: no normalisation and no limiter.")
    limiter: LimiterSettings = Field(LimiterSettings(), description="The loudness stage's true-peak limiter; used only with loudness.")
    fade_in_s: float = Field(0.0, ge=0.0, description="Equal-power fade-in at the start of the timeline, in seconds.")
    fade_out_s: float = Field(0.0, ge=0.0, description="Equal-power fade-out at the end of the timeline (tail included), in seconds.")
    tail_s: float = Field(2.0, ge=0.0, le=600.0, description="Seconds rendered after the last clip ends, for reverb and delay tails.")


STEM_NAME_FIELD = "{name}"
"""What a stem output's path holds where each strip's name goes."""
MAX_STEM_FILES = 1024
"""The most stem files one session's outputs may write, all together."""


class Output(_Model):
    """One deliverable file, or with ``stems`` one file per strip."""

    path: FilePath = Field(description="The file to write, relative to the output folder; for stems, a template holding {name}, the strip's name.")
    stems: Literal["tracks", "buses", "all"] | Annotated[list[StripName], Field(min_length=1, max_length=MAX_TRACKS + MAX_BUSES)] | None = Field(
        None,
        description="Write stems instead of the master: each strip's output after its fader and pan (its sends aside), in the mix's gain staging, "
        "before the master chain and the loudness stage. tracks, buses, all, or a list of track and bus names.",
    )
    format: Literal["wav", "aiff", "flac", "mp3", "opus", "aac"] = Field(
        "wav", description="The file format: wav, aiff and flac are lossless; mp3, opus and aac (in an MP4 file, .m4a) are lossy."
    )
    bit_depth: Literal[16, 24, "32f"] = Field(24, description="16- or 24-bit integer PCM, or 32f for 32-bit float (not with flac); lossless formats only.")
    sample_rate: SampleRate | None = Field(
        None, description="The file's rate in Hz, resampled before dither; null: the render rate (a lossy format's nearest rate it takes: see bitrate_kbps)."
    )
    dither: Literal["none", "tpdf", "shaped"] = Field("tpdf", description="Dither before quantising to 16 or 24 bits; ignored for 32f; lossless formats only.")
    bitrate_kbps: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="A lossy format's bitrate in kbit/s: mp3 one of 32 to 320 (default 320), opus 12 to 512 (default 160), aac 32 to 512 (default 256).",
    )

    @property
    def lossy(self) -> bool:
        """Whether the format is a lossy one (mp3, opus, aac)."""
        return self.format in LOSSY_FORMATS


class Session(_Model):
    """A whole session, format ``mixfarm/1``."""

    format: Literal["mixfarm/1"] = Field(description="The format and its version.")
    name: Name = Field("untitled", description="The session's name; it seeds the dither, with each output's path.")
    sample_rate: SampleRate | None = Field(None, description="The render rate in Hz; null: the rate of the first stem.")
    tempo_bpm: float | None = Field(None, gt=0.0, le=1000.0, description="Quarter notes per minute; needed only by a delay's time_note.")
    tracks: list[Track] = Field(min_length=1, max_length=MAX_TRACKS, description="The tracks.")
    buses: list[Bus] = Field([], max_length=MAX_BUSES, description="The buses.")
    master: Master = Field(Master(), description="The master: its effects, the loudness stage, fades and tail.")
    outputs: list[Output] = Field([Output(path="master.wav")], max_length=MAX_OUTPUTS, description="The deliverables, all rendered from one master.")
    metadata: Metadata | None = Field(None, description="Titles, names and identifiers written into every deliverable (see Metadata).")


FX_AUTOMATION_PREFIX = "fx."


def effect_lane(key: str, chain: list) -> tuple[int, str]:
    """The fx entry (its position in ``chain``) and parameter that the automation key ``fx.<id or position>.<parameter>`` names.

    Raises ValueError saying what the key lacks.
    """
    parts = key.split(".", 2)
    if len(parts) < 3 or not parts[1] or not parts[2]:
        raise ValueError("an effect's automation key is fx.<id or position>.<parameter>")
    reference, parameter = parts[1], parts[2]
    if reference.isdigit():
        if int(reference) >= len(chain):
            raise ValueError(f"no effect at position {reference}; this strip has {len(chain)}")
        return int(reference), parameter
    ids = {spec.id: index for index, spec in enumerate(chain) if spec.id is not None}
    if reference not in ids:
        known = ", ".join(sorted(ids)) or "none"
        raise ValueError(f"no effect with the id {reference!r} on this strip (ids: {known})")
    return ids[reference], parameter


def effect_automation(strip: Strip) -> dict[int, dict[str, list]]:
    """A checked strip's effect automation: fx position -> parameter -> its points."""
    lanes: dict[int, dict[str, list]] = {}
    for key, points in strip.automation.items():
        if key.startswith(FX_AUTOMATION_PREFIX):
            index, parameter = effect_lane(key, strip.fx)
            lanes.setdefault(index, {})[parameter] = points
    return lanes


def stem_strips(session: Session, output: Output) -> list[str]:
    """The strips whose stems ``output`` writes, in its order: tracks, buses, all (tracks, then buses) or the names it lists."""
    if output.stems == "tracks":
        return [track.name for track in session.tracks]
    if output.stems == "buses":
        return [bus.name for bus in session.buses]
    if output.stems == "all":
        return [strip.name for strip in [*session.tracks, *session.buses]]
    return list(output.stems or ())


def stem_path(template: str, strip: str) -> str:
    """The path of ``strip``'s stem: ``template`` with every :data:`STEM_NAME_FIELD` replaced by the strip's name."""
    return template.replace(STEM_NAME_FIELD, strip)


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
