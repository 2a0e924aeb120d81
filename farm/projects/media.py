"""The imported session's media: audio taken out of a project archive or beside a project file, into ``DIR/media``.

Each source file lands once, under its own name (numbered when two differ
but share one). A path that leaves the project (``..``, an absolute path, a
link out of its folder) is refused like any escaping path, and what an
archive unpacks is counted against a byte limit as it is written, so a
member that lies about its size cannot fill the disk.
"""

from __future__ import annotations

import collections
import os
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from dsp import io as audio_io
from dsp.errors import AudioFileError
from farm.errors import ProjectError

MEDIA_FOLDER = "media"
DEFAULT_MAX_MEDIA_BYTES = 64 * 1024**3
"""The most bytes of audio one import may unpack or copy, all together."""
_CHUNK_BYTES = 1 << 20
MAX_NAME_BYTES = 255
"""The longest file name (UTF-8 bytes) that filesystems take."""


class MediaFolder:
    """The folder ``out_dir/media`` that an import fills; paths it returns are relative to ``out_dir``."""

    def __init__(self, out_dir: Path, max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> None:
        self.out_dir = out_dir
        self.max_bytes = max_bytes
        self.written_bytes = 0
        self._taken: dict[str, str] = {}
        self._by_source: dict[str, str] = {}
        self.entries: list[dict] = []
        self._facts: dict[str, audio_io.AudioInfo] = {}

    def from_archive(self, archive: zipfile.ZipFile, member: str, where: str) -> str:
        """Unpack the archive's ``member`` (a path inside it) and return its session path; ``where`` names the referring element."""
        name = archive_member(member, where)
        key = f"archive:{name}"
        if key in self._by_source:
            return self._by_source[key]
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise ProjectError(f"{where}: the media file {member!r} is not in the project archive") from None
        target = self._claim(key, PurePosixPath(name).name)
        try:
            with archive.open(info) as source, open(self.out_dir / target, "wb") as sink:
                while chunk := source.read(_CHUNK_BYTES):
                    self._count(len(chunk), member)
                    sink.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
            raise ProjectError(f"{where}: the media file {member!r} is damaged or truncated in the archive ({exc})") from None
        self.entries.append({"path": target, "from": name, "embedded": True})
        return target

    def from_disk(self, path: str, project_dir: Path, where: str) -> str:
        """Link or copy the file ``path`` (relative to ``project_dir``, the project file's folder) and return its session path.

        A file that already lies inside the output folder (a project imported
        where it stands) is used where it is.
        """
        source = _inside(path, project_dir, where)
        key = f"disk:{source}"
        if key in self._by_source:
            return self._by_source[key]
        if source.is_relative_to(self.out_dir.resolve()):
            target = source.relative_to(self.out_dir.resolve()).as_posix()
            self._by_source[key] = target
            self.entries.append({"path": target, "from": path, "embedded": False})
            return target
        target = self._claim(key, source.name)
        self._count(source.stat().st_size, path)
        try:
            os.link(source, self.out_dir / target)
        except OSError:
            shutil.copyfile(source, self.out_dir / target)
        self.entries.append({"path": target, "from": path, "embedded": False})
        return target

    def from_writer(self, key: str, name: str, write, what: str) -> str:
        """Write a file named ``name`` with ``write(handle, count)`` (``count(bytes)`` counts what it writes against
        the limit) unless the source ``key`` was written before; returns its session path. ``what`` names the source."""
        if key in self._by_source:
            return self._by_source[key]
        target = self._claim(key, name)
        with open(self.out_dir / target, "wb") as handle:
            write(handle, lambda size: self._count(size, what))
        self.entries.append({"path": target, "from": what, "embedded": True})
        return target

    def facts(self, target: str, where: str) -> audio_io.AudioInfo:
        """The header facts of the media file at session path ``target``; an unreadable file is an error naming ``where``."""
        if target not in self._facts:
            try:
                self._facts[target] = audio_io.info(self.out_dir / target, target)
            except AudioFileError as exc:
                raise ProjectError(f"{where}: {exc}") from None
        return self._facts[target]

    def most_common_rate(self, default: int = 48000) -> int:
        """The sample rate most of the media have (the highest among equals), ``default`` without media: a session's render rate."""
        rates = collections.Counter(self.facts(entry["path"], entry["path"]).sample_rate for entry in self.entries)
        return max(rates, key=lambda rate: (rates[rate], rate)) if rates else default

    def _claim(self, key: str, name: str) -> str:
        """A free session path ``media/<name>`` for the source ``key``: numbered if this import took the name or a file
        of that name is there already (files on disk are never written over), and cut to a length filesystems take."""
        stem, suffix = os.path.splitext(name)
        stem = _cut(stem, MAX_NAME_BYTES - len(suffix.encode()) - 8)
        candidate, number = f"{stem}{suffix}", 2
        while candidate.casefold() in self._taken or os.path.lexists(self.out_dir / MEDIA_FOLDER / candidate):
            candidate = f"{stem} {number}{suffix}"
            number += 1
        target = f"{MEDIA_FOLDER}/{candidate}"
        self._taken[candidate.casefold()] = key
        self._by_source[key] = target
        (self.out_dir / MEDIA_FOLDER).mkdir(parents=True, exist_ok=True)
        return target

    def _count(self, size: int, name: str) -> None:
        self.written_bytes += size
        if self.written_bytes > self.max_bytes:
            raise ProjectError(f"{name}: the project's media pass the limit of {self.max_bytes} bytes")


def archive_member(member: str, where: str) -> str:
    """The archive path ``member`` normalised; one that is absolute or climbs out with ``..`` is refused."""
    path = PurePosixPath(member.replace("\\", "/"))
    if not member or path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ProjectError(f"{where}: the media path {member!r} leaves the project archive; only paths inside it are allowed")
    return path.as_posix()


def _cut(text: str, limit_bytes: int) -> str:
    """``text`` cut to at most ``limit_bytes`` bytes of UTF-8, on a character boundary."""
    return text.encode()[: max(limit_bytes, 1)].decode(errors="ignore") or "audio"


def _inside(path: str, project_dir: Path, where: str) -> Path:
    """The file ``path`` names, relative to ``project_dir``; refused when missing or when it resolves outside that folder.

    A path written on Windows (``Audio\\kick.wav``) is read with its backslashes as separators when no file has the
    name as written.
    """
    if not path or "\0" in path:
        raise ProjectError(f"{where}: names no media file" if not path else f"{where}: the media path {path[:80]!r} holds a NUL character")
    candidate = Path(path)
    if "\\" in path and not (candidate if candidate.is_absolute() else project_dir / candidate).exists():
        candidate = Path(path.replace("\\", "/"))
    resolved = (candidate if candidate.is_absolute() else project_dir / candidate).resolve()
    if not resolved.is_relative_to(project_dir.resolve()):
        raise ProjectError(f"{where}: the media file {path!r} lies outside the project's folder {project_dir}; only files inside it are imported")
    if not resolved.is_file():
        raise ProjectError(f"{where}: the media file {path!r} is missing (looked for {resolved})")
    return resolved
