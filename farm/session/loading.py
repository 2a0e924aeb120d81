"""Loading a session: read, validate every pass, and resolve what the renderer needs."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pydantic

from dsp import io as audio_io
from dsp.effect import Effect
from farm.errors import SessionError
from farm.storage import Location

from .checks import (
    check_duration,
    check_effects,
    check_files,
    check_meaning,
    check_reference,
    check_sample_data,
)
from .clips import ClipSpan, clip_span
from .model import DEFAULT_MAX_DURATION_S, DEFAULT_SAMPLE_RATE_HZ, MAX_PROBLEMS, Session
from .problems import (
    format_pydantic_error,
    pydantic_problems,
    relative_to_folder,
    session_error,
)
from .reading import read_document


@dataclasses.dataclass(frozen=True)
class LoadedSession:
    """A validated session with everything the renderer needs resolved.

    Attributes
    ----------
    session : Session
        The model as written.
    source : farm.storage.Location
        The session file.
    sample_rate : int
        The render rate in Hz: ``session.sample_rate`` or the first stem's.
    files : dict
        Each audio file the session names (as written) -> its resolved path
        and header facts (:class:`dsp.io.AudioInfo`).
    effects : dict
        Each strip's name (``"master"`` for the master) -> its insert chain,
        built at ``sample_rate`` while validating, for the compiler to use.
    spans : dict
        Each track's name -> where each of its clips plays at ``sample_rate``
        (:class:`~farm.session.clips.ClipSpan`, in ``clip_list`` order).
    roots : tuple
        The folders (resolved paths) that paths may point into besides the
        session folder, when that is local (a session in object storage keeps
        to its folder).
    reference : dsp.io.AudioInfo or None
        ``master.match.reference`` resolved (its ``path`` a local path or
        URI) with its header facts; None without matching.
    """

    session: Session
    source: Location
    sample_rate: int
    files: dict[str, audio_io.AudioInfo]
    effects: dict[str, tuple[Effect, ...]]
    spans: dict[str, tuple[ClipSpan, ...]]
    roots: tuple[Path, ...] = ()
    reference: audio_io.AudioInfo | None = None

    @property
    def content_frames(self) -> int:
        """Frames from the start of the timeline to the end of its last clip, at ``sample_rate``."""
        return max((span.end_frame for spans in self.spans.values() for span in spans), default=0)

    @property
    def timeline_frames(self) -> int:
        """Frames the session lasts: its last clip's end plus ``master.tail_s``, at ``sample_rate``."""
        return self.content_frames + round(self.session.master.tail_s * self.sample_rate)

    @property
    def folder(self) -> Location:
        """The folder that relative paths start from."""
        return self.source.parent


def load(
    path: str | os.PathLike | Location,
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
        Listing every problem found, naming the session file as ``path`` does.
    """
    source = Location.of(path)
    named = str(path) if isinstance(path, Location) else os.fspath(path)
    try:
        data = read_document(source)
        return validate(data, source, allowed_roots, max_duration_s=max_duration_s, check_samples=check_samples)
    except SessionError as exc:
        if exc.source == named:
            raise
        raise SessionError(named, exc.problems) from None


def validate(
    data: object,
    source: str | os.PathLike | Location,
    allowed_roots: tuple[str | os.PathLike, ...] = (),
    *,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    check_samples: bool = False,
) -> LoadedSession:
    """Validate parsed session data as if read from ``source``; see :func:`load`."""
    source = Location.of(source)
    if not isinstance(data, dict):
        raise SessionError(str(source), [f"the document must be a mapping of fields, got {type(data).__name__}"])
    try:
        session = Session.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = pydantic_problems(exc.errors())
        raise session_error(str(source), [format_pydantic_error(error) for error in errors[:MAX_PROBLEMS]], len(errors)) from None
    problems = check_meaning(session)
    folder = source.parent
    roots = [Path(root).resolve() for root in allowed_roots]
    files, file_problems = check_files(session, folder, roots)
    sample_rate = int(session.sample_rate or (next(iter(files.values())).sample_rate if files else DEFAULT_SAMPLE_RATE_HZ))
    reference, reference_problems = check_reference(session.master.match, folder, roots)
    problems += file_problems + reference_problems + check_duration(session, files, sample_rate, max_duration_s)
    effects: dict[str, tuple[Effect, ...]] = {}
    if files or session.sample_rate:
        effects, effect_problems = check_effects(session, sample_rate, folder, roots, files)
        problems += effect_problems
    if check_samples:
        problems += check_sample_data(session, files, folder, roots)
    if problems:
        shown = problems[:MAX_PROBLEMS]
        raise session_error(str(source), [relative_to_folder(problem, folder.local_path) for problem in shown] if folder.is_local else shown, len(problems))
    spans = {
        track.name: tuple(clip_span(clip, files[clip.file].frames, files[clip.file].sample_rate, sample_rate) for clip in track.clip_list)
        for track in session.tracks
    }
    return LoadedSession(session, source, sample_rate, files, effects, spans, tuple(roots), reference)
