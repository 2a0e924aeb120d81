"""The album file, format ``mixfarm-album/1``: songs in sequence, one master chain, per-song and continuous outputs, a cue sheet."""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from farm.session.effects import FxSpec
from farm.session.metadata import Metadata, Text
from farm.session.model import (
    MAX_FX_PER_STRIP,
    MAX_OUTPUTS,
    FilePath,
    LimiterSettings,
    Loudness,
    Match,
    Output,
    SampleRate,
)
from farm.session.names import Name

ALBUM_FORMAT = "mixfarm-album/1"
MAX_SONGS = 99
"""The most songs an album holds: a CD's track limit."""
MAX_GAP_S = 60.0
DEFAULT_GAP_S = 2.0
"""Silence before a song that names neither gap_s nor crossfade_s (the first song starts at 0 s)."""
SONG_FIELDS = ("index", "title", "artist")
"""What a per-song output's path template may name: ``{index:02d} {title}.wav``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


JOB_ID_PATTERN = r"^[0-9a-f]{16}$"
JOB_OUTPUTS_FOLDER = "jobs"
"""Where, beside the album file, the service puts the outputs of the jobs songs name: ``jobs/<id>/<output>``."""


class JobOutput(_Model):
    """An output of another job of the farm, of the same studio: the album's job waits for that job to succeed."""

    id: str = Field(pattern=JOB_ID_PATTERN, description="The job's id: 16 lowercase hexadecimal digits, as the service gives it.")
    output: FilePath = Field(description="The name of its output to use, as the job lists it (e.g. master.wav).")

    @property
    def path(self) -> str:
        """Where the service puts the output, relative to the album file's folder."""
        return f"{JOB_OUTPUTS_FOLDER}/{self.id}/{self.output}"


class Song(Metadata):
    """One song of the album: a session to mix first, a finished stereo mix, or another job's output; its metadata over the album's."""

    session: FilePath | None = Field(None, description="A mixfarm session, relative to the album file's folder, mixed first (its own master.loudness and master.match are ignored).")
    file: FilePath | None = Field(None, description="A finished stereo (or mono) mix, relative to the album file's folder.")
    job: JobOutput | None = Field(
        None, description="A finished mix that another job of the farm renders (service only): the album's job waits for it and takes its output."
    )
    title: Text = Field(description="The song's title.")
    gap_s: float | None = Field(None, ge=0.0, le=MAX_GAP_S, description="Silence before this song in the continuous file, in seconds [2.0; not on the first song].")
    crossfade_s: float | None = Field(None, gt=0.0, le=MAX_GAP_S, description="Overlap with the previous song instead of a gap, in seconds: a linear crossfade.")

    @pydantic.model_validator(mode="after")
    def _one_source(self) -> Song:
        if [self.session, self.file, self.job].count(None) != 2:
            raise ValueError("give exactly one of session, file or job")
        if self.gap_s is not None and self.crossfade_s is not None:
            raise ValueError("give gap_s or crossfade_s, not both")
        return self

    @property
    def metadata(self) -> Metadata:
        """The song's own metadata fields."""
        return Metadata(**{name: getattr(self, name) for name in Metadata.model_fields if name in self.model_fields_set})


class AlbumLoudness(Loudness):
    """The album's loudness target and how it applies to the songs."""

    mode: Literal["album", "track"] = Field(
        "album",
        description="album: one gain for every song, the loudest on target and the others kept at their level below it; track: each song on target by itself.",
    )


class AlbumMaster(_Model):
    """The master chain every song goes through."""

    fx: list[FxSpec] = Field([], max_length=MAX_FX_PER_STRIP, description="Effects applied to every song, in order, before matching and the loudness stage.")
    match: Match | None = Field(None, description="Reference matching for every song (each against the same reference); null: none.")
    loudness: AlbumLoudness | None = Field(None, description="The loudness target and its mode; null: no normalisation and no limiter.")
    limiter: LimiterSettings = Field(LimiterSettings(), description="The loudness stage's true-peak limiter; used only with loudness.")


class AlbumOutput(Output):
    """A per-song file (its path a template), the continuous album file (``continuous: true``)."""

    path: FilePath = Field(description="For per-song files a template: {index} (1-based; {index:02d} pads it), {title}, {artist}; for the continuous file its name.")
    stems: None = Field(None, description="Albums write no stems.")
    continuous: bool = Field(False, description="true: the whole sequence as one file, with its gaps and crossfades.")


class CueOutput(_Model):
    """A cue sheet for the continuous file."""

    cue: FilePath = Field(description="The cue sheet's file name: TITLE, PERFORMER, ISRC and INDEX 01 per song, in CD frames (75 per second).")


class Album(_Model):
    """An album, format ``mixfarm-album/1``."""

    format: Literal["mixfarm-album/1"] = Field(description="The format and its version.")
    name: Name = Field("album", description="The album's name; it seeds the dither, with each output's path.")
    sample_rate: SampleRate | None = Field(None, description="The rate songs are mastered at, in Hz; null: the first song's.")
    metadata: Metadata | None = Field(None, description="The album's metadata; each song's fields override it.")
    songs: list[Song] = Field(min_length=1, max_length=MAX_SONGS, description="The songs, in order.")
    master: AlbumMaster = Field(AlbumMaster(), description="The master chain every song goes through.")
    outputs: list[AlbumOutput | CueOutput] = Field(
        [AlbumOutput(path="{index:02d} {title}.wav")], max_length=MAX_OUTPUTS, description="Per-song files, continuous files and a cue sheet."
    )
