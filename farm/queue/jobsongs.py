"""Albums whose songs are other jobs' outputs: which jobs an album waits for, and fetching their outputs into its bundle.

A song of an album may name ``job: {id, output}`` instead of a file: the
output of another job of the same studio. The album's job waits for those
jobs (they join its ``after``), and when it runs, each output is copied from
that job's ``out/`` into the album's bundle at ``jobs/<id>/<output>``, where
:func:`farm.album.load_album` reads it like any finished mix.
"""

from __future__ import annotations

import shutil

import pydantic

from farm.album import Album, is_album
from farm.album.model import JobOutput
from farm.errors import SessionError
from farm.session import read_document
from farm.storage import Location

from .jobfiles import JobFiles
from .jobstore import JobStore
from .state import JobState

COPY_CHUNK_BYTES = 8 * 1024 * 1024


def job_songs(session: Location) -> list[tuple[int, JobOutput]]:
    """(position, job output) of every song of the album file ``session`` that is another job's output; none for a
    session file or an album that does not parse (its loader reports that)."""
    if not session.name.startswith("album."):
        return []
    try:
        data = read_document(session)
    except SessionError:
        return []
    if not is_album(data):
        return []
    try:
        album = Album.model_validate(data)
    except pydantic.ValidationError:
        return []
    return [(position, song.job) for position, song in enumerate(album.songs) if song.job is not None]


def fetch_job_songs(store: JobStore, files: JobFiles, job_id: str, session: Location) -> None:
    """Copy the outputs the album ``session`` of job ``job_id`` takes from other jobs into its bundle.

    Raises SessionError (naming the song) when a job is not a succeeded job of the same studio with that output,
    or its files are gone.
    """
    album_job = store.get(job_id)
    problems = []
    for position, song in job_songs(session):
        where = f"songs[{position}].job"
        source = store.get(song.id)
        if source is None or album_job is None or source.studio != album_job.studio:
            problems.append(f"{where}: no job {song.id!r} of this studio")
            continue
        if source.state is not JobState.SUCCEEDED:
            problems.append(f"{where}: job {song.id} is {source.state.value}; the album needs it succeeded")
            continue
        names = [item["name"] for item in source.outputs]
        if song.output not in names:
            problems.append(f"{where}: job {song.id} has no output {song.output!r} (its outputs: {', '.join(names) or 'none'})")
            continue
        if source.purged_at is not None:
            problems.append(f"{where}: the files of job {song.id} were removed by the retention policy")
            continue
        target = files.bundle(job_id).joinpath(*song.path.split("/"))
        try:
            _copy(files.output(song.id, song.output), target)
        except FileNotFoundError:
            problems.append(f"{where}: output {song.output!r} of job {song.id} is no longer in storage")
    if problems:
        raise SessionError(session.name, problems)


def _copy(source: Location, target: Location) -> None:
    if source.is_local and target.is_local:
        target.local_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.local_path, target.local_path)
        return
    target.write_bytes(b"".join(source.read_chunks(COPY_CHUNK_BYTES)))
