"""Rendering an album: songs mixed in parallel, mastered through one chain to one loudness plan, sequenced into a continuous file and a cue sheet.

1. **Mix.** Each song given as a session is rendered as ``mixfarm render``
   would, without its own loudness stage or matching, into a 32-bit float
   file; several songs render at once on the executor (each its own render,
   its chunks spread like any render's).
2. **Master chain.** Each song (its mix, or the finished mix the album
   names) goes through the album's ``master.fx`` and matching EQ (each song
   matched to the reference by itself) at the mastering rate; its
   integrated loudness there is what the loudness plan works from.
3. **Loudness.** In ``track`` mode every song is mastered to the target by
   itself. In ``album`` mode the loudest song is mastered first, to the
   target; the gain that landed it is then applied as it is to every other
   song, so they keep their level below it (each through the same limiter,
   so a loud song loses a little more). The limiter, the deliverables and
   their checks are a render's own (:func:`farm.engine.render.render_plan`).
4. **Sequence.** The continuous files place each mastered song at its start:
   after the previous song's end plus its ``gap_s``, or ``crossfade_s``
   before it with linear fades (they sum to one, so the overlap never goes
   over the ceiling either song holds). The cue sheet gives each song's
   start in CD frames.

Everything is written into a hidden folder inside the output folder and
moved into place when the whole album has rendered, ``report.json`` last: a
song that fails fails the album, named, and leaves no file behind.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from dsp.matching import Spectrum
from farm.engine import tasks
from farm.engine.chunkcache import ChunkCache
from farm.engine.executor import Executor, choose_executor
from farm.engine.plan import DEFAULT_CHUNK_S, compile_plan
from farm.engine.render import Progress, render_plan
from farm.engine.taskcache import combined
from farm.errors import FarmError, RenderCancelled, RenderError
from farm.session import DEFAULT_MAX_DURATION_S, LoadedSession, Output, validate
from farm.session.metadata import Metadata
from farm.storage import Location

from .cue import cue_sheet
from .loading import LoadedAlbum, LoadedSong, load_album
from .model import DEFAULT_GAP_S, Album, AlbumOutput

CONTINUOUS_SOURCE = "continuous-source.wav"
"""Each mastered song as a 32-bit float file at the mastering rate, from which the continuous files are made."""
PREMASTER = "premaster.wav"
MIX = "mix.wav"
_FLOAT = {"bit_depth": "32f", "dither": "none"}
CANCEL_POLL_S = 0.2


def render_album(
    album_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    chunk_s: float = DEFAULT_CHUNK_S,
    executor: Executor | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    on_tasks: Callable[[list[dict]], None] | None = None,
    loaded: LoadedAlbum | None = None,
    started: float | None = None,
    executor_reason: str | None = None,
    cache: ChunkCache | None = None,
) -> dict:
    """Render the album file ``album_path`` into ``out_dir``; return its report (also written as report.json).

    Either may be a storage URI: an album in storage is fetched with its
    folder first, and outputs for a URI are rendered into a local folder and
    uploaded, ``report.json`` last. ``on_tasks`` is called with the meta of
    each batch of finished tasks, as :func:`farm.engine.render.render` does.
    With ``cache`` every stage reuses what an earlier render of it left
    there (:mod:`farm.engine.chunkcache`); the report's ``cache`` sums them.

    Raises SessionError for an invalid album (nothing is written),
    RenderError when a song fails (naming it), RenderCancelled when
    ``cancel`` is set.
    """
    started = time.perf_counter() if started is None else started
    source, target = Location.of(album_path), Location.of(out_dir)
    options = dict(chunk_s=chunk_s, executor=executor, progress=progress, cancel=cancel, max_duration_s=max_duration_s, on_tasks=on_tasks, cache=cache)
    if source.is_remote or target.is_remote:
        with tempfile.TemporaryDirectory(prefix="mixfarm-album-") as staging:
            local_album, local_out = source, Path(staging) / "out"
            if source.is_remote:
                source.parent.download_folder_to(Path(staging) / "album")
                local_album, loaded = Location.of(Path(staging) / "album" / source.name), None
            report = render_album(
                local_album, local_out if target.is_remote else out_dir, loaded=loaded, started=started, executor_reason=executor_reason, **options
            )
            if target.is_remote:
                for name in [item["path"] for item in report["deliverables"]] + ["report.json"]:
                    target.joinpath(name).upload_from(local_out / name)
        return report
    loaded = loaded or load_album(album_path, max_duration_s=max_duration_s)
    out_dir = Path(target.local_path)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        workdir = out_dir / f".mixfarm-album-{uuid.uuid4().hex[:12]}"
        workdir.mkdir()
    except OSError as exc:
        raise RenderError(f"{out_dir}: output folder is not writable ({exc.strerror or exc})") from None
    if executor is None:
        choice = choose_executor()
        executor, executor_reason = choice.build(), choice.reason
    stop, finished = threading.Event(), threading.Event()
    if cancel is not None:
        threading.Thread(target=_forward, args=(cancel, stop, finished), name="album-cancel", daemon=True).start()
    try:
        run = _AlbumRun(loaded, executor, workdir, chunk_s, stop, on_tasks, _AlbumProgress(progress, len(loaded.songs)), cache)
        report = run.render()
        report["cache"] = combined(run.cache_reports) if cache is not None else None
        report["executor"], report["executor_reason"] = executor.name, executor_reason
        report["wall_s"] = time.perf_counter() - started
        report["realtime_factor"] = report["duration_s"] / report["wall_s"]
        run.progress.done()
        _publish(run.files, out_dir, report)
        return report
    finally:
        finished.set()
        shutil.rmtree(workdir, ignore_errors=True)


def _forward(cancel: threading.Event, stop: threading.Event, finished: threading.Event) -> None:
    """Set ``stop`` once ``cancel`` is set, until ``finished`` is."""
    while not finished.is_set():
        if cancel.wait(CANCEL_POLL_S):
            stop.set()
            return


@dataclasses.dataclass
class _AlbumProgress:
    """Album progress: each song's mix, master chain and mastering, and the sequence, as equal steps."""

    callback: Progress | None
    songs: int
    finished: int = 0
    audio_s: float = 0.0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def step(self, audio_s: float = 0.0) -> None:
        with self.lock:
            self.finished += 1
            self.audio_s += audio_s
            if self.callback:
                self.callback(min(self.finished / (3 * self.songs + 1), 0.99), self.audio_s, self.stage)

    @property
    def stage(self) -> str:
        """The stage most songs are at, in words (songs run several at once)."""
        phase, done = divmod(self.finished, self.songs)
        if phase >= 3:
            return "sequencing the album"
        return f"{('mixing', 'master chain on', 'mastering')[phase]} songs ({done} of {self.songs} done)"

    def done(self) -> None:
        if self.callback:
            self.callback(1.0, self.audio_s, "finishing")


@dataclasses.dataclass
class _AlbumRun:
    loaded: LoadedAlbum
    executor: Executor
    workdir: Path
    chunk_s: float
    stop: threading.Event
    """Set when the album is cancelled or a song failed: every song's render stops."""
    on_tasks: Callable[[list[dict]], None] | None
    progress: _AlbumProgress
    cache: ChunkCache | None = None
    cache_reports: list[dict | None] = dataclasses.field(default_factory=list)
    """Each stage render's cache counts."""
    files: dict[str, Path] = dataclasses.field(default_factory=dict)
    """Each file of the album (its path in the output folder) -> where it was made."""
    reference: Spectrum | None = None
    """The matching reference's long-term spectrum, analysed once for every song."""

    @property
    def album(self) -> Album:
        return self.loaded.album

    def render(self) -> dict:
        songs = self.loaded.songs
        match = self.album.master.match
        if match is not None and match.amount > 0.0:
            task = self.executor.submit(tasks.reference_spectrum, self.loaded.reference.path, match.reference, self.loaded.sample_rate)
            self.reference = self.executor.get(task)
        mixes = self._each(songs, self._mix)
        premasters = self._each(songs, lambda song: self._premaster(song, mixes[song.index - 1]))
        mastered = self._master(songs, premasters)
        starts = _starts([facts["source_frames"] for facts in mastered], songs, self.loaded.sample_rate)
        continuous = self._continuous(songs, starts) if self.loaded.continuous_outputs else None
        self.progress.step()
        return self._report(songs, premasters, mastered, starts, continuous)

    def _each(self, songs, work) -> list:
        """``work(song)`` for every song, several at once; the first song that fails stops the others and fails the album, named."""
        workers = max(1, min(len(songs), int(self.executor.cluster()["cpus"]) or 1))
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="album-song") as pool:
            futures = [pool.submit(self._named, song, work) for song in songs]
            done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            if any(future.exception() is not None for future in done):
                self.stop.set()
        errors = [future.exception() for future in futures if future.exception() is not None]
        if errors:
            raise next((error for error in errors if not isinstance(error, RenderCancelled)), errors[0])
        return [future.result() for future in futures]

    def _named(self, song: LoadedSong, work):
        if self.stop.is_set():
            raise RenderCancelled("the render was cancelled")
        try:
            return work(song)
        except RenderCancelled:
            raise
        except FarmError as exc:
            raise RenderError(f"songs[{song.index - 1}] ({song.song.title}): {exc}", transient=getattr(exc, "transient", False)) from exc

    def _render(self, loaded: LoadedSession, folder: str, fixed_gain_db: float | None = None, track: LoadedSong | None = None) -> dict:
        plan = compile_plan(loaded, self.chunk_s)
        if plan.loudness.match is not None and self.reference is not None:
            plan = dataclasses.replace(plan, loudness=dataclasses.replace(plan.loudness, match=dataclasses.replace(plan.loudness.match, spectrum=self.reference)))
        if fixed_gain_db is not None:
            plan = dataclasses.replace(plan, loudness=dataclasses.replace(plan.loudness, fixed_gain_db=fixed_gain_db))
        if track is not None:
            total = len(self.loaded.songs)
            deliverables = tuple(
                dataclasses.replace(item, tags=dataclasses.replace(item.tags, track_number=track.index, track_total=total)) for item in plan.deliverables
            )
            plan = dataclasses.replace(plan, deliverables=deliverables)
        report = render_plan(loaded, plan, self.workdir / folder, executor=self.executor, cancel=self.stop, on_tasks=self.on_tasks, keep_mix=False, cache=self.cache)
        self.cache_reports.append(report["cache"])
        return report

    def _mix(self, song: LoadedSong) -> Path:
        """Stage 1: a session song rendered without its loudness stage and matching; a finished mix as it is."""
        if song.session is None:
            self.progress.step()
            return Path(song.file.path)
        session = song.session.session
        master = session.master.model_copy(update={"loudness": None, "match": None})
        session = session.model_copy(update={"master": master, "outputs": [Output(path=MIX, **_FLOAT)], "metadata": None})
        report = self._render(dataclasses.replace(song.session, session=session, reference=None), f"mix-{song.index:02d}")
        self.progress.step(report["duration_s"])
        return self.workdir / f"mix-{song.index:02d}" / MIX

    def _session(self, song: LoadedSong, name: str, track: dict, master: dict, outputs: list[dict], metadata: dict | None = None) -> LoadedSession:
        """A session for one of the album's own stages, its paths relative to the album's folder and the work folder allowed."""
        data = {
            "format": "mixfarm/1",
            "name": f"{self.album.name}-{song.index:02d}-{name}",
            "sample_rate": self.loaded.sample_rate,
            "tracks": [{"name": "song", **track}],
            "master": {"tail_s": 0.0, **master},
            "outputs": outputs,
        }
        if metadata:
            data["metadata"] = metadata
        source = self.loaded.folder.joinpath(f".{self.album.name}-{song.index:02d}-{name}.yaml")
        return validate(data, source, (*self.loaded.roots, self.workdir), max_duration_s=None)

    def _premaster(self, song: LoadedSong, mix: Path) -> dict:
        """Stage 2: the song through the album's master chain and matching EQ at the mastering rate; returns that render's report."""
        master: dict = {"fx": [spec.model_dump(mode="json", exclude_unset=True) for spec in self.album.master.fx]}
        if self.album.master.match is not None:
            master["match"] = self.album.master.match.model_dump(mode="json")
        loaded = self._session(song, "premaster", {"file": str(mix)}, master, [{"path": PREMASTER, **_FLOAT}])
        report = self._render(loaded, f"premaster-{song.index:02d}")
        self.progress.step(report["duration_s"])
        return report

    def _master(self, songs, premasters: list[dict]) -> list[dict]:
        """Stage 3: each song mastered; in album mode the loudest first, and its gain for the rest."""
        loudness = self.album.master.loudness
        if loudness is None or loudness.mode == "track":
            return self._each(songs, lambda song: self._master_song(song, premasters[song.index - 1]))
        levels = [report["output"]["integrated_lufs"] for report in premasters]
        if all(level is None for level in levels):
            raise RenderError("songs: every song is silent after the master chain: there is no loudness to bring to the target")
        loudest = max(range(len(songs)), key=lambda position: -float("inf") if levels[position] is None else levels[position])
        first = self._named(songs[loudest], lambda song: self._master_song(song, premasters[loudest]))
        others = [song for song in songs if song.index - 1 != loudest]
        rest = iter(self._each(others, lambda song: self._master_song(song, premasters[song.index - 1], first["gain_db"])) if others else [])
        return [first if position == loudest else next(rest) for position in range(len(songs))]

    def _master_song(self, song: LoadedSong, premaster: dict, fixed_gain_db: float | None = None) -> dict:
        album = self.album
        master: dict = {"limiter": album.master.limiter.model_dump(mode="json")}
        if album.master.loudness is not None:
            target_lufs, ceiling_dbtp = album.master.loudness.target
            master["loudness"] = {"target_lufs": target_lufs, "true_peak_dbtp": ceiling_dbtp}
        outputs = [self._song_output(output, song) for _, output in self.loaded.song_outputs]
        if self.loaded.continuous_outputs:
            outputs.append({"path": CONTINUOUS_SOURCE, **_FLOAT})
        metadata = song.metadata.model_dump(mode="json", exclude_none=True)
        premaster_file = self.workdir / f"premaster-{song.index:02d}" / PREMASTER
        loaded = self._session(song, "master", {"file": str(premaster_file)}, master, outputs, metadata)
        report = self._render(loaded, f"song-{song.index:02d}", fixed_gain_db, track=song)
        self.progress.step(report["duration_s"])
        report["source_frames"] = round(report["duration_s"] * self.loaded.sample_rate)
        return report

    def _song_output(self, output: AlbumOutput, song: LoadedSong) -> dict:
        fields = output.model_dump(mode="json", exclude_unset=True, exclude={"continuous", "stems"})
        return {**fields, "path": self.loaded.song_path(output.path, song)}

    def _continuous(self, songs, starts: list[int]) -> dict:
        """Stage 4: the continuous files, the mastered songs placed at their starts with their crossfades; returns that render's report."""
        rate = self.loaded.sample_rate
        clips = []
        for position, song in enumerate(songs):
            clip = {"file": str(self.workdir / f"song-{song.index:02d}" / CONTINUOUS_SOURCE), "start_s": starts[position] / rate, "fade_shape": "linear"}
            if song.song.crossfade_s is not None:
                clip["fade_in_s"] = song.song.crossfade_s
            if position + 1 < len(songs) and songs[position + 1].song.crossfade_s is not None:
                clip["fade_out_s"] = songs[position + 1].song.crossfade_s
            clips.append(clip)
        outputs = [output.model_dump(mode="json", exclude_unset=True, exclude={"continuous", "stems"}) for _, output in self.loaded.continuous_outputs]
        album_metadata = self.album.metadata or Metadata()
        metadata = album_metadata.model_dump(mode="json", exclude_none=True, exclude={"isrc"})
        metadata["title"] = album_metadata.album or self.album.name
        loaded = self._session(songs[0], "continuous", {"clips": clips}, {}, outputs, metadata)
        return self._render(loaded, "continuous")

    def _report(self, songs, premasters, mastered, starts, continuous) -> dict:
        rate = self.loaded.sample_rate
        loudness = self.album.master.loudness
        song_reports, deliverables = [], []
        for position, song in enumerate(songs):
            report = mastered[position]
            files = [item for item in report["deliverables"] if item["path"] != CONTINUOUS_SOURCE]
            measured = (files or report["deliverables"])[0]["loudness"]
            deliverables += files
            self.files.update({item["path"]: self.workdir / f"song-{song.index:02d}" / item["path"] for item in files})
            song_reports.append(
                {
                    "index": song.index,
                    "title": song.song.title,
                    "source": song.source,
                    "start_s": starts[position] / rate,
                    "duration_s": report["source_frames"] / rate,
                    "mix_lufs": premasters[position]["output"]["integrated_lufs"],
                    "gain_db": report["gain_db"],
                    "loudness_passes": report["loudness_passes"],
                    "integrated_lufs": measured["integrated_lufs"],
                    "true_peak_dbtp": measured["true_peak_dbtp"],
                    "loudness_range_lu": measured["loudness_range_lu"],
                    "match": premasters[position]["match"],
                    "deliverables": [item["path"] for item in files],
                }
            )
        end_frames = max(start + report["source_frames"] for start, report in zip(starts, mastered))
        result = {
            "album": self.album.name,
            "format": self.album.format,
            "sample_rate": rate,
            "duration_s": end_frames / rate,
            "mode": loudness.mode if loudness else None,
            "target": {"integrated_lufs": loudness.target[0], "true_peak_dbtp": loudness.target[1]} if loudness else None,
            "songs": song_reports,
            "continuous": continuous["deliverables"] if continuous else [],
            "deliverables": deliverables + (continuous["deliverables"] if continuous else []),
        }
        if continuous:
            self.files.update({item["path"]: self.workdir / "continuous" / item["path"] for item in continuous["deliverables"]})
        if self.loaded.cue:
            target = self.workdir / "cue" / self.loaded.cue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(cue_sheet(self.loaded, song_reports, continuous["deliverables"][0]), encoding="utf-8")
            result["deliverables"].append({"path": self.loaded.cue, "format": "cue", "bytes": target.stat().st_size})
            self.files[self.loaded.cue] = target
        return result


def _starts(frames: list[int], songs, rate: int) -> list[int]:
    """Each song's first frame in the continuous sequence: after the previous song's end plus its gap, or its crossfade before it."""
    starts, end = [], 0
    for position, (length, song) in enumerate(zip(frames, songs)):
        if position == 0:
            start = 0
        elif song.song.crossfade_s is not None:
            start = end - round(song.song.crossfade_s * rate)
        else:
            start = end + round((song.song.gap_s if song.song.gap_s is not None else DEFAULT_GAP_S) * rate)
        starts.append(start)
        end = start + length
    return starts


def _publish(files: dict[str, Path], out_dir: Path, report: dict) -> None:
    """Move every finished file (path in the output folder -> where it was made) into place, then write report.json."""
    for path, source in files.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    partial = out_dir / ".report.json.partial"
    partial.write_text(json.dumps(report, indent=2, allow_nan=False))
    os.replace(partial, out_dir / "report.json")
