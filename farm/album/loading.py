"""Reading and checking an album file: its songs (each session loaded and checked, each mix's header read), the sequence, the outputs.

Every problem found is reported at once, as a session's are, each naming its
field: ``songs[2].crossfade_s: ...``; a song session's own problems come
under ``songs[i].session``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
from pathlib import Path

import pydantic

from dsp import io as audio_io
from dsp.errors import DspError
from farm.errors import SessionError
from farm.session import DEFAULT_MAX_DURATION_S, LoadedSession, load, read_document
from farm.session.checks import check_encoding, check_output_paths, check_reference
from farm.session.effects import build_effect
from farm.session.metadata import Metadata
from farm.session.problems import (
    echo,
    format_pydantic_error,
    pydantic_problems,
    session_error,
)
from farm.session.samplescan import rate_problem
from farm.storage import Location, stems

from .model import (
    ALBUM_FORMAT,
    DEFAULT_GAP_S,
    SONG_FIELDS,
    Album,
    AlbumOutput,
    CueOutput,
    Song,
)

MAX_PROBLEMS = 100
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]+')
_FORMAT_SPEC = re.compile(r"[<>^]?0?\d{1,2}d?")
MAX_TITLE_IN_PATH = 120


@dataclasses.dataclass(frozen=True)
class LoadedSong:
    """A checked song: where it sits in the album, its metadata (the album's, its own over them), its source and length."""

    index: int
    song: Song
    metadata: Metadata
    session: LoadedSession | None
    file: audio_io.AudioInfo | None
    sample_rate: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def source(self) -> str:
        """The song's session or mix, as the album file names it."""
        return self.song.session or self.song.file or self.song.job.path


@dataclasses.dataclass(frozen=True)
class LoadedAlbum:
    """A checked album: the model, its file, the mastering rate, the songs, the reference for matching, the master chain built."""

    album: Album
    source: Location
    sample_rate: int
    songs: tuple[LoadedSong, ...]
    reference: audio_io.AudioInfo | None
    roots: tuple[Path, ...] = ()

    @property
    def folder(self) -> Location:
        return self.source.parent

    @property
    def song_outputs(self) -> list[tuple[int, AlbumOutput]]:
        """The per-song outputs with their places in ``outputs``."""
        return [(index, output) for index, output in enumerate(self.album.outputs) if isinstance(output, AlbumOutput) and not output.continuous]

    @property
    def continuous_outputs(self) -> list[tuple[int, AlbumOutput]]:
        return [(index, output) for index, output in enumerate(self.album.outputs) if isinstance(output, AlbumOutput) and output.continuous]

    @property
    def cue(self) -> str | None:
        """The cue sheet's path, if the album writes one."""
        return next((output.cue for output in self.album.outputs if isinstance(output, CueOutput)), None)

    def song_path(self, template: str, song: LoadedSong) -> str:
        """A per-song output's path for ``song``."""
        return song_path(template, song.index, song.metadata)


def is_album(data: object) -> bool:
    """Whether parsed YAML or JSON data is an album file (its ``format``)."""
    return isinstance(data, dict) and data.get("format") == ALBUM_FORMAT


def safe_name(text: str) -> str:
    """``text`` as part of a file name: no folder separators, control or reserved characters, no leading dot."""
    return _UNSAFE.sub("-", text).strip().lstrip(".")[:MAX_TITLE_IN_PATH] or "untitled"


def song_path(template: str, index: int, metadata: Metadata) -> str:
    """``template`` with the song's {index}, {title} and {artist}; ValueError saying what the template may hold.

    A field may carry a short format spec (``{index:02d}``: at most two
    digits of width), so no template can ask for a huge string.
    """
    allowed = ", ".join("{" + name + "}" for name in SONG_FIELDS)
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{echo(template)} is not a song path template ({exc}); it may hold {allowed}") from None
    for name, spec in fields:
        if name not in SONG_FIELDS:
            raise ValueError(f"{echo(template)} names {{{name}}}, which is not a song field; it may hold {allowed}")
        if spec and not _FORMAT_SPEC.fullmatch(spec):
            raise ValueError(f"{echo(template)}: the format {spec!r} of {{{name}}} is not allowed; use a width of at most two digits, e.g. {{index:02d}}")
    try:
        return template.format(index=index, title=safe_name(metadata.title or ""), artist=safe_name(metadata.artist or ""))
    except ValueError as exc:
        raise ValueError(f"{echo(template)} is not a song path template ({exc}); it may hold {allowed}") from None


def load_album(
    path: str | os.PathLike | Location,
    allowed_roots: tuple[str | os.PathLike, ...] = (),
    *,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    jobs_pending: bool = False,
) -> LoadedAlbum:
    """Read and check an album file; every song session is loaded with its own checks.

    ``max_duration_s`` bounds each song and the whole album (None: no limit).
    A song from a job (``job``) reads the output the service put at
    ``jobs/<id>/<output>`` beside the album file; with ``jobs_pending`` (the
    service, at submit, before those jobs ran) such songs are left out of
    the album returned, unchecked.

    Raises
    ------
    SessionError
        Listing every problem found, naming the album file.
    """
    source = Location.of(path)
    data = read_document(source)
    try:
        album = Album.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = pydantic_problems(exc.errors())
        raise session_error(str(source), [format_pydantic_error(error) for error in errors[:MAX_PROBLEMS]], len(errors)) from None
    folder = source.parent
    roots = tuple(Path(root).resolve() for root in allowed_roots)
    problems: list[str] = []
    songs: list[LoadedSong] = []
    for position, song in enumerate(album.songs):
        if song.job is not None and jobs_pending:
            continue
        loaded, song_problems = _load_song(position, song, album, folder, roots, max_duration_s)
        problems += song_problems
        if loaded is not None:
            songs.append(loaded)
    sample_rate = album.sample_rate or (songs[0].sample_rate if songs else 48000)
    if len(songs) == len(album.songs):
        problems += _check_sequence(songs, max_duration_s)
    reference, reference_problems = check_reference(album.master.match, folder, list(roots))
    effect_problems = _check_master_fx(album, sample_rate, folder, list(roots))
    problems += reference_problems + effect_problems + _check_outputs(album, songs)
    if problems:
        raise session_error(str(source), problems[:MAX_PROBLEMS], len(problems))
    return LoadedAlbum(album, source, sample_rate, tuple(songs), reference, roots)


def _load_song(position: int, song: Song, album: Album, folder: Location, roots: tuple[Path, ...], max_duration_s: float | None):
    where = f"songs[{position}]"
    metadata = (album.metadata or Metadata()).merged(song.metadata)
    if song.session is not None:
        try:
            session = load(folder.resolve_inside(song.session, list(roots)), roots, max_duration_s=max_duration_s)
        except SessionError as exc:
            return None, [f"{where}.session: {echo(song.session)}: {problem}" for problem in exc.problems]
        except ValueError as exc:
            return None, [f"{where}.session: {exc}"]
        return LoadedSong(position + 1, song, metadata, session, None, session.sample_rate, session.timeline_frames), []
    field, name = ("file", song.file) if song.job is None else ("job", song.job.path)
    if song.job is not None and not folder.joinpath(*name.split("/")).is_file():
        return None, [
            f"{where}.job: output {echo(song.job.output)} of job {song.job.id} is not at {name}: the mixfarm service puts it there when "
            "the album's job runs (submit the album to the service, or use file: with the mix itself)"
        ]
    try:
        facts = stems.info(folder.resolve_inside(name, list(roots)))
    except (ValueError, OSError) as exc:
        return None, [f"{where}.{field}: {exc}"]
    problem = rate_problem(facts, name, "mixes")
    if problem:
        return None, [f"{where}.{field}: {problem}"]
    if facts.channels > 2:
        return None, [f"{where}.{field}: {echo(name)} has {facts.channels} channels; a mix must be mono or stereo"]
    if max_duration_s is not None and facts.duration_s > max_duration_s:
        return None, [f"{where}.{field}: {echo(name)} lasts {facts.duration_s:g} s; a song may last at most {max_duration_s:g} s"]
    return LoadedSong(position + 1, song, metadata, None, facts, facts.sample_rate, facts.frames), []


def _check_sequence(songs: list[LoadedSong], max_duration_s: float | None) -> list[str]:
    """The first song has no gap or crossfade; a crossfade is no longer than either song it joins; the album within the duration limit."""
    problems = []
    first = songs[0].song
    for field in ("gap_s", "crossfade_s"):
        if getattr(first, field) is not None:
            problems.append(f"songs[0].{field}: the first song starts the album at 0 s; it has nothing before it to {'leave a gap after' if field == 'gap_s' else 'overlap'}")
    total_s = 0.0
    for position, song in enumerate(songs):
        total_s += song.duration_s
        crossfade_s = song.song.crossfade_s
        if position == 0:
            continue
        if crossfade_s is not None:
            previous = songs[position - 1]
            shorter = min((previous, song), key=lambda item: item.duration_s)
            if crossfade_s > shorter.duration_s:
                problems.append(
                    f"songs[{position}].crossfade_s: {crossfade_s:g} s is longer than songs[{shorter.index - 1}] "
                    f"({echo(shorter.song.title)}, {shorter.duration_s:g} s); a crossfade must fit inside both songs it joins"
                )
            total_s -= crossfade_s
        else:
            total_s += song.song.gap_s if song.song.gap_s is not None else DEFAULT_GAP_S
    if max_duration_s is not None and total_s > max_duration_s:
        problems.append(f"songs: the album lasts {total_s:g} s; at most {max_duration_s:g} s")
    return problems


def _check_master_fx(album: Album, sample_rate: int, folder: Location, roots: list[Path]) -> list[str]:
    """Each of the master's effects built at the mastering rate, on stereo, so its own rules apply."""
    problems = []
    for index, spec in enumerate(album.master.fx):
        try:
            build_effect(spec, sample_rate, folder=folder, roots=roots).init_state(2)
        except (DspError, ValueError) as exc:
            problems.append(f"master.fx[{index}].{exc}")
    return problems


def _check_outputs(album: Album, songs: list[LoadedSong]) -> list[str]:
    """Per-song paths from their templates, continuous files and the cue sheet: every file its own, inside the output folder."""
    problems, files = [], []
    continuous = [output for output in album.outputs if isinstance(output, AlbumOutput) and output.continuous]
    cues = [(index, output) for index, output in enumerate(album.outputs) if isinstance(output, CueOutput)]
    for index, output in enumerate(album.outputs):
        where = f"outputs[{index}]"
        if isinstance(output, CueOutput):
            files.append((f"{where}.cue", output.cue, output.cue))
            continue
        problems += check_encoding(where, output)
        if output.continuous:
            files.append((f"{where}.path", output.path, output.path))
            continue
        for song in songs:
            try:
                files.append((f"{where}.path", song_path(output.path, song.index, song.metadata), output.path))
            except ValueError as exc:
                problems.append(f"{where}.path: {exc}")
                break
    if len(cues) > 1:
        problems.append(f"outputs[{cues[1][0]}].cue: an album writes one cue sheet")
    if cues and not continuous:
        problems.append(f"outputs[{cues[0][0]}].cue: a cue sheet describes the continuous file; add an output with continuous: true")
    return problems + check_output_paths(files)
